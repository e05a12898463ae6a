//! Build once, test many: a generated firmware-like C project (300 files,
//! `make -j2`, the host's `cc` behind ccache) built cold, requeued at the
//! same commit (its outputs restored from the build cache), and built
//! again after a commit that changes one C file (ccache hits for the
//! other 299). Each figure is the build stage's `duration_ms` in the view.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use serde_json::Value;

use crate::fixtures::{queue_body, GitRepo};
use crate::fleet::wait_for_workers;
use crate::report::Row;
use crate::stack::{Services, Stack};

const FILES: usize = 300;
/// Functions per file: enough that a cold `-O2` build of the project takes
/// well over 20 s on 2 cores.
const FUNCTIONS: usize = 60;
const WAIT: Duration = Duration::from_secs(1800);

const PROFILE: &str = r#"
default_profile = "cbuild"
[profiles.cbuild]
build = "make -s -j2"
build_timeout_s = 1800
build_outputs = ["build/fw"]
ccache = true
task = "./build/fw"
"#;

const MAKEFILE: &str = "SRCS := $(wildcard src/*.c)\nOBJS := $(SRCS:src/%.c=build/%.o)\n\
build/fw: $(OBJS)\n\tcc -o $@ $(OBJS)\n\
build/%.o: src/%.c\n\t@mkdir -p build\n\tcc -O2 -c $< -o $@\n";

/// File `i`: `FUNCTIONS` functions of loops and switches the optimiser
/// has to work through; `salt` changes every constant of the file.
pub fn c_file(i: usize, salt: u32) -> String {
    let mut out = String::from("#include <stdint.h>\n");
    for j in 0..FUNCTIONS {
        let seed = (j as u64 * 2_654_435_761 + u64::from(salt)) % (1 << 32);
        let mix = ((i * 7919 + j) as u32) ^ salt;
        let _ = write!(
            out,
            "uint32_t f{i}_{j}(uint32_t x) {{\n  uint32_t acc = {seed}u;\n  \
             for (int k = 0; k < 64; k++) {{\n    acc ^= (acc << 7) + x * {m}u + (uint32_t)k;\n    \
             acc = (acc >> 3) | (acc << 29);\n    switch ((acc + x) % 8) {{\n      \
             case 0: acc += {j}u * x; break;\n      case 1: acc ^= x >> {shift}; break;\n      \
             case 2: acc -= {ij}u; break;\n      case 3: acc *= 2246822519u; break;\n      \
             case 4: acc += acc >> 16; break;\n      case 5: acc ^= 0x{mix:08x}u; break;\n      \
             case 6: acc = acc * 3u + 1u; break;\n      default: acc ^= acc << 5; break;\n    \
             }}\n  }}\n  return acc;\n}}\n",
            m = j + 3,
            shift = j % 13 + 1,
            ij = i + j,
        );
    }
    out
}

fn project() -> Result<GitRepo> {
    let sources: Vec<(String, String)> = (0..FILES)
        .map(|i| (format!("src/f{i:03}.c"), c_file(i, 0)))
        .collect();
    let mut files: Vec<(&str, &str)> = sources
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let main = "#include <stdint.h>\nuint32_t f0_0(uint32_t);\n\
                int main(void) { volatile uint32_t r = f0_0(1); (void)r; return 0; }\n";
    files.push(("src/main.c", main));
    files.push(("Makefile", MAKEFILE));
    GitRepo::new(&files)
}

/// The build stage of a passed queue: its status and seconds.
async fn build_stage(stack: &Stack, repo: &GitRepo, id: &str) -> Result<(String, f64)> {
    stack
        .create(&queue_body(id, &repo.url(), "cbuild", &[("run", "fw")]))
        .await?;
    let view = stack.wait_passed(id, WAIT).await?;
    let stage: &Value = view["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["stage"] == "build"))
        .with_context(|| format!("no build stage in {view}"))?;
    let ms = stage["duration_ms"].as_f64().context("duration_ms")?;
    let status = stage["status"].as_str().unwrap_or_default().to_owned();
    Ok((status, ms / 1000.0))
}

pub async fn build_cache() -> Result<Vec<Row>> {
    if !std::path::Path::new("/usr/lib/ccache/cc").exists() {
        bail!("ccache is not installed (scripts/setup installs it)");
    }
    let mut stack = Stack::start(Services::all(0)).await?;
    stack.spawn_worker_with(0, PROFILE, &[])?;
    wait_for_workers(&stack, 1).await?;
    let repo = project()?;

    let (status, cold) = build_stage(&stack, &repo, "cold").await?;
    anyhow::ensure!(status == "ok", "the cold build was {status}");
    let (status, requeue) = build_stage(&stack, &repo, "requeue").await?;
    anyhow::ensure!(status == "cached", "the requeued build was {status}");
    let changed = c_file(FILES / 2, 1);
    repo.commit(
        &[(&format!("src/f{:03}.c", FILES / 2), &changed)],
        "one file",
    )?;
    let (status, one_file) = build_stage(&stack, &repo, "one-file").await?;
    anyhow::ensure!(status == "ok", "the one-file build was {status}");
    drop(stack);
    Ok(vec![
        Row::at_least("cold build (fixture: ≥ 20 s)", cold, "s", 20.0),
        Row::at_most("requeue build / cold", requeue / cold * 100.0, "%", 2.0),
        Row::at_most(
            "one-file-change build (ccache) / cold",
            one_file / cold * 100.0,
            "%",
            15.0,
        ),
        Row::info("requeue build (restored)", requeue * 1000.0, "ms"),
        Row::info("one-file-change build", one_file, "s"),
    ])
}
