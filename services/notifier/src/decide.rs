//! Pure: an event's facts and the config → the deliveries it owes. Each
//! has an id derived from what it is, so a redelivered event (or a
//! restarted notifier) finds its record and sends nothing twice:
//! - a commit status: `<queue>.status.pending` or `<queue>.status.final`
//!   (a queue posts at most one pending and one final state; the pending
//!   one is superseded once the final one is delivered, so a retried
//!   pending never overwrites a result);
//! - a notification: `<stream sequence>.rule<N>`, the `[[notify]]` rule's
//!   place in the file.

use std::collections::HashMap;

use std::sync::Arc;

use testarena_events::DeliveryKind;
use testarena_integrations::{same_repository, GatewayFile, NotifyRule, NotifyTarget};

use crate::commit_status::{
    context_of, repo_path, short_description, status_request, CommitState, CommitStatus,
    StatusPathError,
};
use crate::facts::{event_word, fired, Facts, QueueFacts, QueueMoment};
use crate::notification_body::{slack_body, webhook_body, Links};
use crate::outgoing::{shown_url, Outgoing};
use crate::signature::{sign, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER};

/// The config as the notifier uses it, checked at start.
#[derive(Debug, Clone)]
pub struct Setup {
    file: Arc<GatewayFile>,
    /// Each status repository's path on its host, by its configured URL.
    paths: HashMap<String, String>,
    public_url: String,
}

impl Setup {
    /// Refuses a repository whose statuses could never be posted (its URL
    /// names no `owner/repo`), naming it.
    pub fn new(file: Arc<GatewayFile>, public_url: String) -> Result<Self, StatusPathError> {
        let mut paths = HashMap::new();
        for repo in &file.repos {
            if let Some(status) = &repo.status {
                let path = repo_path(repo.url.as_str(), status.api)?;
                paths.insert(repo.url.as_str().to_owned(), path);
            }
        }
        Ok(Self {
            file,
            paths,
            public_url,
        })
    }

    /// Whether anything at all is configured (else every event is acked
    /// without reading a view).
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && self.file.notify.is_empty()
    }

    fn links(&self) -> Links<'_> {
        Links {
            public_url: &self.public_url,
        }
    }
}

/// One HTTP request owed, and what its record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub kind: DeliveryKind,
    pub target: String,
    pub about: Vec<String>,
    pub queue_id: Option<String>,
    pub bisect_id: Option<String>,
    pub request: Outgoing,
    /// A delivered record under this id makes this one moot.
    pub superseded_by: Option<String>,
}

pub fn deliveries(seq: u64, facts: &Facts, setup: &Setup) -> Vec<Delivery> {
    let mut owed = Vec::new();
    if let Facts::Queue(queue) = facts {
        owed.extend(status_delivery(queue, setup));
    }
    let events: Vec<_> = fired(facts);
    for (index, rule) in setup.file.notify.iter().enumerate() {
        let matched: Vec<&str> = rule
            .on
            .iter()
            .filter(|on| events.contains(on))
            .map(|on| event_word(*on))
            .collect();
        if matched.is_empty() || !repo_matches(rule, facts) {
            continue;
        }
        owed.push(notification(
            format!("{seq}.rule{index}"),
            rule,
            &matched,
            facts,
            setup,
        ));
    }
    owed
}

fn status_delivery(queue: &QueueFacts, setup: &Setup) -> Option<Delivery> {
    if queue.view.bisect.is_some() {
        return None;
    }
    let hook = setup.file.repo(&queue.view.source.repo)?;
    let (target, path) = (hook.status.as_ref()?, setup.paths.get(hook.url.as_str())?);
    let commit = queue.commit()?.to_owned();
    let (phase, state, description) = match queue.moment {
        QueueMoment::Submitted => (
            "pending",
            CommitState::Pending,
            "waiting for a worker".into(),
        ),
        QueueMoment::CheckedOut => ("pending", CommitState::Pending, "running".into()),
        QueueMoment::Finished => {
            let verdict = queue.view.verdict.as_deref().unwrap_or("error");
            let counts = &queue.view.counts;
            let text = format!(
                "{verdict}: {} of {} tasks passed",
                counts.pass, counts.total
            );
            ("final", CommitState::of_verdict(verdict), text)
        }
    };
    let id = &queue.view.id;
    let status = CommitStatus {
        context: context_of(id, &commit),
        commit,
        state,
        description: short_description(&description),
        target_url: setup.links().queue(id),
    };
    let request = status_request(target, path, &status);
    Some(Delivery {
        id: format!("{id}.status.{phase}"),
        kind: DeliveryKind::Status,
        about: vec![state.word(target.api).to_owned()],
        queue_id: Some(id.clone()),
        bisect_id: None,
        superseded_by: (phase == "pending").then(|| format!("{id}.status.final")),
        target: shown_url(&request.url, false),
        request,
    })
}

fn repo_matches(rule: &NotifyRule, facts: &Facts) -> bool {
    let Some(wanted) = &rule.repo else {
        return true;
    };
    let repo = match facts {
        Facts::Queue(queue) => &queue.view.source.repo,
        Facts::Bisect(view) => &view.source.repo,
    };
    same_repository(wanted.as_str(), repo)
}

fn notification(
    id: String,
    rule: &NotifyRule,
    events: &[&str],
    facts: &Facts,
    setup: &Setup,
) -> Delivery {
    let links = setup.links();
    let (kind, url, request) = match &rule.target {
        NotifyTarget::Webhook(url) => {
            let body = webhook_body(&id, events, facts, &links);
            let mut headers = vec![
                ("Content-Type", "application/json".to_owned()),
                (DELIVERY_HEADER, id.clone()),
                (EVENT_HEADER, events.join(",")),
            ];
            if let Some(secret) = &rule.secret {
                headers.push((SIGNATURE_HEADER, sign(secret.expose().as_bytes(), &body)));
            }
            let request = Outgoing {
                url: url.clone(),
                headers,
                body,
            };
            (DeliveryKind::Webhook, shown_url(url, false), request)
        }
        NotifyTarget::Slack(url) => {
            let request = Outgoing {
                url: url.clone(),
                headers: vec![("Content-Type", "application/json".to_owned())],
                body: slack_body(events, facts, &links),
            };
            (DeliveryKind::Slack, shown_url(url, true), request)
        }
    };
    let (queue_id, bisect_id) = match facts {
        Facts::Queue(queue) => (Some(queue.view.id.clone()), None),
        Facts::Bisect(view) => (None, Some(view.id.clone())),
    };
    Delivery {
        id,
        kind,
        target: url,
        about: events.iter().map(|e| (*e).to_owned()).collect(),
        queue_id,
        bisect_id,
        request,
        superseded_by: None,
    }
}
