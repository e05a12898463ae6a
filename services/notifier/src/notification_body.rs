//! Pure: what a `[[notify]]` rule's receiver gets. A webhook gets JSON
//! (`delivery`, `events`, and `queue` or `bisect` with their link); Slack
//! an incoming-webhook message: the verdict, the failing tests and the
//! link, in its `mrkdwn` with `&`, `<` and `>` escaped as Slack asks, so a
//! hostile task name cannot forge a link or a mention.

use serde_json::{json, Value};

use crate::facts::{Facts, QueueFacts};

/// Where a person opens what the notification is about.
pub struct Links<'a> {
    pub public_url: &'a str,
}

impl Links<'_> {
    pub fn queue(&self, id: &str) -> String {
        format!("{}/#/queue/{id}", self.public_url.trim_end_matches('/'))
    }

    pub fn bisect(&self, id: &str) -> String {
        format!("{}/#/bisect/{id}", self.public_url.trim_end_matches('/'))
    }
}

/// Failing tests named in a message; the rest are counted.
const MAX_NAMED: usize = 20;

pub fn webhook_body(delivery: &str, events: &[&str], facts: &Facts, links: &Links) -> Vec<u8> {
    let about = match facts {
        Facts::Queue(queue) => ("queue", queue_json(queue, links)),
        Facts::Bisect(view) => (
            "bisect",
            json!({
                "id": view.id,
                "repo": view.source.repo,
                "status": view.status,
                "first_bad": view.first_bad.as_ref().map(|c| json!({
                    "commit": c.commit, "subject": c.subject, "author": c.author,
                })),
                "url": links.bisect(&view.id),
            }),
        ),
    };
    let mut body = json!({ "delivery": delivery, "events": events });
    body[about.0] = about.1;
    body.to_string().into_bytes()
}

fn queue_json(queue: &QueueFacts, links: &Links) -> Value {
    let view = &queue.view;
    json!({
        "id": view.id,
        "repo": view.source.repo,
        "ref": view.source.git_ref,
        "commit": view.commit,
        "profile": view.profile,
        "status": view.status.as_str(),
        "verdict": view.verdict,
        "reason": view.reason,
        "counts": view.counts,
        "failing": queue.failing_tasks(),
        "new_failures": queue.new_failures,
        "url": links.queue(&view.id),
    })
}

pub fn slack_body(events: &[&str], facts: &Facts, links: &Links) -> Vec<u8> {
    let text = match facts {
        Facts::Queue(queue) => queue_text(queue, links),
        Facts::Bisect(view) => {
            let culprit = view.first_bad.as_ref().map_or_else(String::new, |c| {
                format!(
                    ": first bad commit `{}` {} ({})",
                    short(&c.commit),
                    escape(&c.subject),
                    escape(&c.author)
                )
            });
            format!(
                "Bisect *{}* of {} found the culprit{culprit}\n<{}|Open the bisect>",
                escape(&view.id),
                escape(&view.source.repo),
                view_link(&links.bisect(&view.id)),
            )
        }
    };
    let text = format!("{text}\n_{}_", events.join(", "));
    json!({ "text": text }).to_string().into_bytes()
}

fn queue_text(queue: &QueueFacts, links: &Links) -> String {
    let view = &queue.view;
    let verdict = view.verdict.as_deref().unwrap_or(view.status.as_str());
    let icon = match verdict {
        "passed" => ":white_check_mark:",
        "failed" | "error" => ":x:",
        _ => ":warning:",
    };
    let commit = view.commit.as_deref().map(short).unwrap_or_default();
    let mut text = format!(
        "{icon} Queue *{}* {} — {}@{} {commit} ({} of {} passed)",
        escape(&view.id),
        escape(verdict),
        escape(&view.source.repo),
        escape(&view.source.git_ref),
        view.counts.pass,
        view.counts.total,
    );
    let failing = queue.failing_tasks();
    if !failing.is_empty() {
        text.push_str(&format!("\nFailing: {}", named(&failing)));
    }
    if !queue.new_failures.is_empty() {
        text.push_str(&format!("\nNew failures: {}", named(&queue.new_failures)));
    }
    text.push_str(&format!(
        "\n<{}|Open the queue>",
        view_link(&links.queue(&view.id))
    ));
    text
}

fn named(names: &[String]) -> String {
    let mut shown: Vec<String> = names.iter().take(MAX_NAMED).map(|n| escape(n)).collect();
    if names.len() > MAX_NAMED {
        shown.push(format!("and {} more", names.len() - MAX_NAMED));
    }
    shown.join(", ")
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// Slack's three control characters as the entities it decodes.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A URL inside `<url|label>`: `|` and `>` would end it early.
fn view_link(url: &str) -> String {
    escape(url).replace('|', "%7C")
}
