//! Profiles: what a worker runs for a queue, from the worker's TOML config
//! (`--config FILE`, format in docs/profiles.md). Parsed and checked once at
//! start; a queue only names one, so repositories cannot inject commands.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde::Deserialize;
use testarena_events::{parse_labels, Label, ProfileName, SizeBudget, MAX_WORKER_LABELS};

use crate::boards_config::{parse_boards, BoardConfig};
use crate::console_cases::{CaseFormat, CasePattern};
use crate::task_lines::TaskLines;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    default_profile: Option<String>,
    #[serde(default)]
    pass_env: Vec<String>,
    /// What this worker offers besides its profiles: `key=value` each.
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    profiles: BTreeMap<String, ProfileFile>,
    /// `[boards.<name>]`, parsed in boards_config.rs.
    #[serde(default)]
    boards: BTreeMap<String, toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    build: Option<String>,
    build_timeout_s: Option<u64>,
    boot: Option<String>,
    boot_ready: Option<BootReadyFile>,
    boot_ready_timeout_s: Option<u64>,
    task: String,
    task_timeout_s: Option<u64>,
    failure_regex: Option<String>,
    progress_regex: Option<String>,
    #[serde(default)]
    retries: u8,
    #[serde(default)]
    reboot_between_retries: bool,
    #[serde(default)]
    reboot_after_failure: bool,
    #[serde(default)]
    env: BTreeMap<String, String>,
    boot_retries: Option<u32>,
    quarantine_after: Option<u32>,
    health: Option<String>,
    health_interval_s: Option<u64>,
    #[serde(default)]
    artifacts: Vec<String>,
    elf: Option<String>,
    size_budget: Option<SizeBudgetFile>,
    #[serde(default)]
    build_outputs: Vec<String>,
    #[serde(default)]
    ccache: bool,
    #[serde(default)]
    scenario_kind: ScenarioKind,
    cases: Option<CasesFile>,
    #[serde(default)]
    board: bool,
    flash: Option<String>,
}

/// `size_budget = { flash_bytes = N, ram_bytes = M }`: either or both.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SizeBudgetFile {
    flash_bytes: Option<u64>,
    ram_bytes: Option<u64>,
}

/// `[profiles.NAME.cases]`: a preset `format`, or a `regex` with its
/// outcome words.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CasesFile {
    format: Option<String>,
    regex: Option<String>,
    #[serde(default)]
    pass: Vec<String>,
    #[serde(default)]
    fail: Vec<String>,
    #[serde(default)]
    skip: Vec<String>,
}

/// What a task's scenario is to this profile's commands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioKind {
    /// A file in the repository, checked for right after checkout.
    #[default]
    File,
    /// A name the command understands (a test program, `-k {scenario}`):
    /// never checked; the command's result decides.
    Name,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum BootReadyFile {
    Tcp(String),
    LogRegex(String),
}

/// How the worker knows a booted target is ready for tasks.
#[derive(Debug, Clone)]
pub enum BootReady {
    /// `host:port` (placeholders allowed) accepts a TCP connection.
    Tcp(String),
    /// A line of the boot process's output matches.
    LogRegex(regex::Regex),
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub name: ProfileName,
    pub build: Option<String>,
    pub build_timeout: Duration,
    pub boot: Option<String>,
    pub boot_ready: Option<BootReady>,
    pub boot_ready_timeout: Duration,
    pub task: String,
    pub task_timeout: Duration,
    /// `failure_regex` and `progress_regex`, applied to every task line.
    pub task_lines: Arc<TaskLines>,
    /// Reruns of a task that ends `FAIL` or `TIMEOUT` (0–5), unless the
    /// task asks for its own.
    pub retries: u8,
    /// Restart the boot command before each retry (on the booted target
    /// otherwise).
    pub reboot_between_retries: bool,
    /// Restart the boot command before the task that follows a task that
    /// did not pass: a failure may have left the target broken.
    pub reboot_after_failure: bool,
    pub env: BTreeMap<String, String>,
    /// A boot that fails on infrastructure (exits before ready, not ready
    /// in time, cannot start) is tried again this often on the same worker
    /// before the failure counts.
    pub boot_retries: u32,
    pub health: HealthPolicy,
    /// Globs in the checkout stored as artifacts after the build.
    pub artifacts: Vec<String>,
    /// The firmware ELF in the checkout whose section sizes are measured
    /// after the build.
    pub elf: Option<String>,
    /// The most flash (`text` + `data`) and RAM (`data` + `bss`) the `elf`
    /// may take; over it, the queue's verdict is `failed`.
    pub size_budget: Option<SizeBudget>,
    /// Globs in the checkout a successful build is cached with; a later
    /// queue of the same key restores them and skips the build.
    pub build_outputs: Vec<String>,
    /// Build with ccache in front of the compiler (ccache.rs).
    pub ccache: bool,
    /// Whether scenarios are files checked after checkout (scenario_check.rs).
    pub scenario_kind: ScenarioKind,
    /// How test cases are read from a task's output (`cases`), if at all.
    pub cases: Option<Arc<CaseFormat>>,
    /// `board = true`: a queue of it runs on a board the scheduler leased
    /// (boot = the board's `power_on`, then `flash`, then ready).
    pub board: bool,
    /// Puts the firmware on the board (`{board}`, `{serial_port}`).
    pub flash: Option<String>,
}

/// When this worker stops taking a profile whose target keeps failing to
/// boot, and how it takes it back.
#[derive(Debug, Clone)]
pub struct HealthPolicy {
    /// Counted boot failures in a row that quarantine the profile.
    pub quarantine_after: u32,
    /// Exits 0 when the target works again; `None`: only a readmit does.
    pub command: Option<String>,
    pub interval: Duration,
}

#[derive(Debug, Clone)]
pub struct Profiles {
    default: Option<ProfileName>,
    profiles: BTreeMap<ProfileName, Profile>,
    /// The worker's own variables that profile commands also get, besides
    /// the allow-list (`command_env.rs`).
    pass_env: Vec<String>,
    labels: Vec<Label>,
    boards: Vec<BoardConfig>,
}

impl Profiles {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading worker config {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in worker config {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: ConfigFile = toml::from_str(text)?;
        let mut profiles = BTreeMap::new();
        for (name, p) in file.profiles {
            let name =
                ProfileName::parse(name.clone()).with_context(|| format!("profile {name:?}"))?;
            profiles.insert(name.clone(), Profile::from_file(name, p)?);
        }
        let default = default_profile(file.default_profile, &profiles)?;
        if let Some(bad) = file.pass_env.iter().find(|n| !is_variable_name(n)) {
            bail!("pass_env: {bad:?} is not a valid variable name");
        }
        let labels = parse_labels("labels", &file.labels, MAX_WORKER_LABELS)?;
        let boards = parse_boards(file.boards)?;
        if let Some(p) = profiles.values().find(|p| p.board) {
            if boards.is_empty() {
                bail!(
                    "profiles.{}: board = true but this worker has no [boards.<name>]",
                    p.name
                );
            }
        }
        Ok(Self {
            default,
            profiles,
            pass_env: file.pass_env,
            labels,
            boards,
        })
    }

    /// Its `[boards.<name>]`, in name order.
    pub(crate) fn boards(&self) -> &[BoardConfig] {
        &self.boards
    }

    /// What this worker offers besides its profiles (`labels`).
    pub fn labels(&self) -> &[Label] {
        &self.labels
    }

    /// The profile run for a queue that names none.
    pub fn default_profile(&self) -> Option<&ProfileName> {
        self.default.as_ref()
    }

    /// Variables of the worker's environment that commands get too.
    pub fn pass_env(&self) -> &[String] {
        &self.pass_env
    }

    /// The profile a queue asked for, or the default.
    pub fn resolve(&self, requested: Option<&ProfileName>) -> Result<&Profile, String> {
        let name = match requested.or(self.default.as_ref()) {
            Some(name) => name,
            None => {
                return Err(
                    "the queue names no profile and this worker has no default_profile".into(),
                )
            }
        };
        self.profiles.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.profiles.keys().map(ProfileName::as_str).collect();
            format!(
                "unknown profile \"{name}\"; this worker knows: {}",
                known.join(", ")
            )
        })
    }

    pub fn all(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.values()
    }

    pub fn names(&self) -> impl Iterator<Item = &ProfileName> {
        self.profiles.keys()
    }
}

impl Profile {
    /// One `[profiles.NAME]` table, checked, with its defaults filled in.
    fn from_file(name: ProfileName, p: ProfileFile) -> anyhow::Result<Self> {
        check_build_cache_keys(&name, &p)?;
        check_board_keys(&name, &p)?;
        let boot_ready = boot_ready(&name, p.boot_ready, p.boot.is_some() || p.board)?;
        let task_lines = task_lines(&name, p.failure_regex, p.progress_regex)?;
        let cases = case_format(&name, p.cases)?.map(Arc::new);
        let size_budget = size_budget(&name, p.size_budget, p.elf.is_some())?;
        let globs = p.artifacts.iter().chain(&p.elf);
        check_retries_globs_and_env(&name, p.retries, globs, p.env.keys())?;
        Ok(Profile {
            name,
            build: p.build,
            build_timeout: Duration::from_secs(p.build_timeout_s.unwrap_or(1800)),
            boot: p.boot,
            boot_ready,
            boot_ready_timeout: Duration::from_secs(p.boot_ready_timeout_s.unwrap_or(30)),
            task: p.task,
            task_timeout: Duration::from_secs(p.task_timeout_s.unwrap_or(300)),
            task_lines: Arc::new(task_lines),
            retries: p.retries,
            reboot_between_retries: p.reboot_between_retries,
            reboot_after_failure: p.reboot_after_failure,
            env: p.env,
            boot_retries: p.boot_retries.unwrap_or(1),
            health: HealthPolicy {
                quarantine_after: p.quarantine_after.unwrap_or(3).max(1),
                command: p.health,
                interval: Duration::from_secs(p.health_interval_s.unwrap_or(300).max(1)),
            },
            artifacts: p.artifacts,
            elf: p.elf,
            size_budget,
            build_outputs: p.build_outputs,
            ccache: p.ccache,
            scenario_kind: p.scenario_kind,
            cases,
            board: p.board,
            flash: p.flash,
        })
    }
}

/// A `size_budget` names at least one positive limit, and needs an `elf`
/// to measure.
fn size_budget(
    name: &ProfileName,
    file: Option<SizeBudgetFile>,
    has_elf: bool,
) -> anyhow::Result<Option<SizeBudget>> {
    let Some(file) = file else {
        return Ok(None);
    };
    let budget = SizeBudget {
        flash_bytes: file.flash_bytes,
        ram_bytes: file.ram_bytes,
    };
    if budget.flash_bytes.is_none() && budget.ram_bytes.is_none() {
        anyhow::bail!("profiles.{name}.size_budget: give flash_bytes, ram_bytes or both");
    }
    if [budget.flash_bytes, budget.ram_bytes].contains(&Some(0)) {
        anyhow::bail!("profiles.{name}.size_budget: a budget of 0 bytes fits no firmware");
    }
    if !has_elf {
        anyhow::bail!("profiles.{name}.size_budget: needs `elf`, the firmware to measure");
    }
    Ok(Some(budget))
}

/// `default_profile`, which must be one of the profiles defined.
fn default_profile(
    name: Option<String>,
    profiles: &BTreeMap<ProfileName, Profile>,
) -> anyhow::Result<Option<ProfileName>> {
    let Some(name) = name else {
        return Ok(None);
    };
    let name = ProfileName::parse(name).context("default_profile")?;
    if !profiles.contains_key(&name) {
        bail!("default_profile {name:?} is not one of the profiles defined");
    }
    Ok(Some(name))
}

/// The profile's `boot_ready`, its regex compiled; it needs a boot command.
fn boot_ready(
    name: &ProfileName,
    file: Option<BootReadyFile>,
    has_boot: bool,
) -> anyhow::Result<Option<BootReady>> {
    let boot_ready = match file {
        None => None,
        Some(BootReadyFile::Tcp(addr)) => Some(BootReady::Tcp(addr)),
        Some(BootReadyFile::LogRegex(re)) => Some(BootReady::LogRegex(
            regex::Regex::new(&re)
                .with_context(|| format!("profiles.{name}.boot_ready.log_regex"))?,
        )),
    };
    if boot_ready.is_some() && !has_boot {
        bail!("profiles.{name}: boot_ready is set but there is no boot command");
    }
    Ok(boot_ready)
}

/// `retries` within what a queue may ask, `artifacts` and `elf` globs that
/// stay in the checkout, and `env` keys that can be variable names.
fn check_retries_globs_and_env<'a>(
    name: &ProfileName,
    retries: u8,
    globs: impl Iterator<Item = &'a String>,
    env_keys: impl Iterator<Item = &'a String>,
) -> anyhow::Result<()> {
    if retries > testarena_events::MAX_RETRIES {
        bail!(
            "profiles.{name}.retries: {} is too many; 0 to {} are allowed",
            retries,
            testarena_events::MAX_RETRIES
        );
    }
    for pattern in globs {
        crate::artifact_files::check_glob(pattern)
            .map_err(|e| anyhow::anyhow!("profiles.{name}: artifacts or elf: {e}"))?;
    }
    for key in env_keys {
        if !is_variable_name(key) {
            bail!("profiles.{name}.env: {key:?} is not a valid variable name");
        }
    }
    Ok(())
}

/// The profile's `failure_regex` and `progress_regex`, compiled and checked.
fn task_lines(
    name: &ProfileName,
    failure: Option<String>,
    progress: Option<String>,
) -> anyhow::Result<TaskLines> {
    let compile = |key: &str, re: Option<String>| {
        re.map(|re| regex::Regex::new(&re))
            .transpose()
            .with_context(|| format!("profiles.{name}.{key}"))
    };
    let failure = compile("failure_regex", failure)?;
    let progress = compile("progress_regex", progress)?;
    TaskLines::new(failure, progress).with_context(|| format!("profiles.{name}.progress_regex"))
}

/// The profile's `cases` table, its regex compiled and checked: a bad one
/// stops the worker at start, naming the profile.
fn case_format(name: &ProfileName, file: Option<CasesFile>) -> anyhow::Result<Option<CaseFormat>> {
    let Some(file) = file else {
        return Ok(None);
    };
    let has_words = !(file.pass.is_empty() && file.fail.is_empty() && file.skip.is_empty());
    match (file.format, file.regex) {
        (Some(_), Some(_)) => bail!("profiles.{name}.cases: set format or regex, not both"),
        (None, None) => bail!(
            "profiles.{name}.cases: needs format ({}) or regex",
            CaseFormat::PRESETS.join(", ")
        ),
        (Some(_), None) if has_words => {
            bail!("profiles.{name}.cases: pass, fail and skip go with regex, not format")
        }
        (Some(format), None) => CaseFormat::preset(&format).map(Some).with_context(|| {
            format!(
                "profiles.{name}.cases.format: {format:?} is not one of {}",
                CaseFormat::PRESETS.join(", ")
            )
        }),
        (None, Some(regex)) => CasePattern::new(&regex, file.pass, file.fail, file.skip)
            .map(|p| Some(CaseFormat::Pattern(p)))
            .with_context(|| format!("profiles.{name}.cases.regex")),
    }
}

/// `build_outputs` and `ccache` are about a build: without one they would
/// do nothing, which is never what the profile's author meant.
fn check_build_cache_keys(name: &ProfileName, p: &ProfileFile) -> anyhow::Result<()> {
    for pattern in &p.build_outputs {
        crate::artifact_files::check_glob(pattern)
            .map_err(|e| anyhow::anyhow!("profiles.{name}.build_outputs: {e}"))?;
    }
    if p.build.is_none() {
        if !p.build_outputs.is_empty() {
            bail!("profiles.{name}: build_outputs is set but there is no build command");
        }
        if p.ccache {
            bail!("profiles.{name}: ccache = true but there is no build command");
        }
    }
    Ok(())
}

/// A board profile boots with its board's `power_on` and its own `flash`,
/// and its board's `health` re-admits the board: the keys of a profile that
/// boots itself, or is quarantined itself, do not go with it.
fn check_board_keys(name: &ProfileName, p: &ProfileFile) -> anyhow::Result<()> {
    if !p.board {
        if p.flash.is_some() {
            bail!("profiles.{name}: flash is set but the profile is not board = true");
        }
        return Ok(());
    }
    let not_with_board = [
        ("boot", p.boot.is_some()),
        ("health", p.health.is_some()),
        ("reboot_between_retries", p.reboot_between_retries),
        ("reboot_after_failure", p.reboot_after_failure),
    ];
    for (key, set) in not_with_board {
        if set {
            bail!("profiles.{name}.{key}: not used by a board profile (board = true): the board's power_on, the profile's flash and the board's health do that");
        }
    }
    Ok(())
}

fn is_variable_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('=') && !name.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESIGN_EXAMPLE: &str = r#"
default_profile = "qemu-arm"

[profiles.qemu-arm]
build = "make -C firmware"                 # sh -c, in the checkout; optional
build_timeout_s = 1800
boot = "qemu-system-arm -M mps2-an385 -nographic -monitor none -kernel firmware/build/fw.elf -serial tcp:127.0.0.1:{port},server,nowait"
boot_ready = { tcp = "127.0.0.1:{port}" }  # or { log_regex = "READY" }; optional
boot_ready_timeout_s = 30
task = "python3 scenario_execution.py {scenario}"
task_timeout_s = 300                       # a task's own timeout_s overrides it
env = { DUT_PORT = "{port}" }
"#;

    #[test]
    fn parses_the_design_example() {
        let profiles = Profiles::parse(DESIGN_EXAMPLE).unwrap();
        let profile = profiles.resolve(None).unwrap();
        assert_eq!(profile.name.as_str(), "qemu-arm");
        assert!(
            matches!(profile.boot_ready, Some(BootReady::Tcp(ref a)) if a == "127.0.0.1:{port}")
        );
        assert_eq!(profile.env["DUT_PORT"], "{port}");
    }

    #[test]
    fn rejects_unknown_keys_and_bad_defaults() {
        assert!(Profiles::parse("[profiles.a]\ntask='x'\ntimeout=3\n").is_err());
        assert!(Profiles::parse("default_profile='b'\n[profiles.a]\ntask='x'\n").is_err());
        let err = Profiles::parse("[profiles.a]\ntask='x'\n")
            .unwrap()
            .resolve(Some(&ProfileName::parse("zz").unwrap()))
            .unwrap_err();
        assert_eq!(err, "unknown profile \"zz\"; this worker knows: a");
    }

    #[test]
    fn labels_and_boot_health_keys_are_read_and_checked() {
        let profiles = Profiles::parse(
            "labels = ['board=mps2-an385', 'fixture=uart']\n[profiles.a]\ntask='x'\nboot_retries=2\nquarantine_after=5\nhealth='true'\nhealth_interval_s=7\n",
        )
        .unwrap();
        assert_eq!(profiles.labels().len(), 2);
        let a = profiles
            .resolve(Some(&ProfileName::parse("a").unwrap()))
            .unwrap();
        assert_eq!(a.boot_retries, 2);
        assert_eq!(a.health.quarantine_after, 5);
        assert_eq!(a.health.command.as_deref(), Some("true"));
        assert_eq!(a.health.interval, Duration::from_secs(7));
        let defaults = Profiles::parse("default_profile='a'\n[profiles.a]\ntask='x'\n").unwrap();
        let a = defaults.resolve(None).unwrap();
        assert_eq!((a.boot_retries, a.health.quarantine_after), (1, 3));
        assert_eq!(a.health.interval, Duration::from_secs(300));
        let err = Profiles::parse("labels = ['board']\n[profiles.a]\ntask='x'\n").unwrap_err();
        assert!(format!("{err:#}").contains("labels"), "{err:#}");
    }

    #[test]
    fn artifacts_and_elf_are_paths_in_the_checkout() {
        let profiles = Profiles::parse(
            "default_profile='a'\n[profiles.a]\ntask='x'\nartifacts=['firmware/build/*.elf', 'firmware/build/*.map']\nelf='firmware/build/fw.elf'\n",
        )
        .unwrap();
        let profile = profiles.resolve(None).unwrap();
        assert_eq!(profile.artifacts.len(), 2);
        assert_eq!(profile.elf.as_deref(), Some("firmware/build/fw.elf"));
        let err = Profiles::parse("[profiles.a]\ntask='x'\nartifacts=['../x']\n").unwrap_err();
        assert!(format!("{err:#}").contains("profiles.a"), "{err:#}");
        let err = Profiles::parse("[profiles.a]\ntask='x'\nelf='/etc/fw.elf'\n").unwrap_err();
        assert!(format!("{err:#}").contains("/etc/fw.elf"), "{err:#}");
    }

    #[test]
    fn a_size_budget_is_read_and_checked() {
        let config = "default_profile='a'\n[profiles.a]\ntask='x'\nelf='fw.elf'\nsize_budget = { flash_bytes = 65536, ram_bytes = 8192 }\n";
        let profiles = Profiles::parse(config).unwrap();
        let budget = profiles.resolve(None).unwrap().size_budget.unwrap();
        assert_eq!(
            (budget.flash_bytes, budget.ram_bytes),
            (Some(65536), Some(8192))
        );
        let flash_only =
            "[profiles.a]\ntask='x'\nelf='fw.elf'\nsize_budget = { flash_bytes = 1 }\n";
        assert!(Profiles::parse(flash_only).is_ok());
        for (bad, says) in [
            (
                "size_budget = {}\nelf='fw.elf'",
                "flash_bytes, ram_bytes or both",
            ),
            ("size_budget = { ram_bytes = 0 }\nelf='fw.elf'", "0 bytes"),
            ("size_budget = { flash_bytes = 10 }", "needs `elf`"),
            ("size_budget = { rom = 10 }\nelf='fw.elf'", "unknown field"),
        ] {
            let err = Profiles::parse(&format!("[profiles.a]\ntask='x'\n{bad}\n")).unwrap_err();
            assert!(format!("{err:#}").contains(says), "{bad}: {err:#}");
        }
    }

    #[test]
    fn build_outputs_and_ccache_need_a_build_and_globs_in_the_checkout() {
        let profiles = Profiles::parse(
            "default_profile='a'\n[profiles.a]\nbuild='make'\ntask='x'\nbuild_outputs=['fw/build/*.elf']\nccache=true\n",
        )
        .unwrap();
        let profile = profiles.resolve(None).unwrap();
        assert_eq!(profile.build_outputs, ["fw/build/*.elf"]);
        assert!(profile.ccache);
        let plain = Profiles::parse("default_profile='a'\n[profiles.a]\ntask='x'\n").unwrap();
        let plain = plain.resolve(None).unwrap();
        assert!(plain.build_outputs.is_empty() && !plain.ccache);

        let err = Profiles::parse("[profiles.a]\nbuild='make'\ntask='x'\nbuild_outputs=['../x']\n")
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("profiles.a.build_outputs"),
            "{err:#}"
        );
        let err =
            Profiles::parse("[profiles.a]\ntask='x'\nbuild_outputs=['fw.elf']\n").unwrap_err();
        assert!(format!("{err:#}").contains("no build command"), "{err:#}");
        let err = Profiles::parse("[profiles.a]\ntask='x'\nccache=true\n").unwrap_err();
        assert!(format!("{err:#}").contains("ccache"), "{err:#}");
    }

    #[test]
    fn pass_env_names_variables() {
        let profiles =
            Profiles::parse("pass_env = ['ARM_HOME']\n[profiles.a]\ntask='x'\n").unwrap();
        assert_eq!(profiles.pass_env(), ["ARM_HOME"]);
        let err = Profiles::parse("pass_env = ['A=B']\n[profiles.a]\ntask='x'\n").unwrap_err();
        assert!(err.to_string().contains("pass_env"), "{err}");
    }

    #[test]
    fn a_cases_table_is_a_preset_or_a_checked_regex_naming_the_profile() {
        let profiles = Profiles::parse(
            "[profiles.z]\ntask='x'\ncases={format='ztest'}\n[profiles.lib]\ntask='x'\n[profiles.lib.cases]\nregex='^(?P<name>.+?) \\.+ (?P<result>PASS|FAILED)$'\npass=['PASS']\nfail=['FAILED']\n[profiles.plain]\ntask='x'\n",
        )
        .unwrap();
        let get = |n: &str| {
            profiles
                .resolve(Some(&ProfileName::parse(n).unwrap()))
                .unwrap()
                .cases
                .clone()
        };
        assert!(matches!(get("z").as_deref(), Some(CaseFormat::Ztest)));
        assert!(matches!(
            get("lib").as_deref(),
            Some(CaseFormat::Pattern(_))
        ));
        assert!(get("plain").is_none());

        let err = |table: &str| {
            let text = format!("[profiles.fw]\ntask='x'\n[profiles.fw.cases]\n{table}\n");
            format!("{:#}", Profiles::parse(&text).unwrap_err())
        };
        let bad_regex = err("regex='(?P<name>\\w+ (?P<result>'");
        assert!(bad_regex.contains("profiles.fw.cases.regex"), "{bad_regex}");
        let no_result = err("regex='(?P<name>\\w+)'");
        assert!(no_result.contains("profiles.fw.cases.regex") && no_result.contains("`result`"));
        assert!(
            err("format='junit'").contains("not one of tap, unity, ztest, gtest, pytest, ctest")
        );
        assert!(err("format='tap'\nregex='x'").contains("not both"));
        assert!(err("pass=['ok']").contains("needs format"));
        assert!(err("format='tap'\npass=['ok']").contains("go with regex"));
        assert!(err("format='tap'\nwords=1").contains("unknown field"));
    }

    #[test]
    fn failure_and_progress_regexes_are_compiled_and_checked_at_start() {
        let profiles = Profiles::parse(
            "default_profile='a'\n[profiles.a]\ntask='x'\nfailure_regex='^FAIL'\nprogress_regex='(?P<done>\\d+)-(?P<total>\\d+)'\n",
        )
        .unwrap();
        let lines = &profiles.resolve(None).unwrap().task_lines;
        assert!(lines.is_failure("FAIL uart"));
        assert_eq!(
            lines.progress("2-9").map(|p| (p.done, p.total)),
            Some((2, 9))
        );
        let err = Profiles::parse("[profiles.a]\ntask='x'\nfailure_regex='('\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("profiles.a.failure_regex"),
            "{err:#}"
        );
        let err = Profiles::parse("[profiles.a]\ntask='x'\nprogress_regex='(?P<done>\\d+)'\n")
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("named group `total`"),
            "{err:#}"
        );
    }

    #[test]
    fn a_board_profile_needs_a_board_and_takes_flash_not_boot() {
        let config = "[boards.b1]\nserial={tcp='127.0.0.1:7001'}\n[profiles.fw]\nboard=true\nflash='flash {board} {serial_port}'\nboot_ready={log_regex='READY'}\ntask='x'\nquarantine_after=2\nhealth_interval_s=5\n";
        let profiles = Profiles::parse(config).unwrap();
        let fw = profiles
            .resolve(Some(&ProfileName::parse("fw").unwrap()))
            .unwrap();
        assert!(fw.board && fw.boot.is_none());
        assert_eq!(fw.flash.as_deref(), Some("flash {board} {serial_port}"));
        assert_eq!(fw.health.quarantine_after, 2);
        assert_eq!(profiles.boards()[0].name.as_str(), "b1");
        let err = |text: &str| format!("{:#}", Profiles::parse(text).unwrap_err());
        let no_board = err("[profiles.fw]\nboard=true\ntask='x'\n");
        assert!(
            no_board.contains("profiles.fw: board = true but this worker has no [boards"),
            "{no_board}"
        );
        let flash_alone = err("[profiles.fw]\nflash='x'\ntask='x'\n");
        assert!(
            flash_alone.contains("profiles.fw: flash is set"),
            "{flash_alone}"
        );
        let boot =
            err("[boards.b1]\nserial={tcp='h:1'}\n[profiles.fw]\nboard=true\nboot='x'\ntask='x'\n");
        assert!(
            boot.contains("profiles.fw.boot: not used by a board profile"),
            "{boot}"
        );
        let bad_board = err("[boards.b1]\nserial={tcp='h:1'}\nbaud=3\n[profiles.fw]\ntask='x'\n");
        assert!(
            bad_board.contains("boards.b1") && bad_board.contains("baud"),
            "{bad_board}"
        );
    }
}
