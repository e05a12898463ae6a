//! The boards a planning round can lease, and which one a queue of a board
//! profile gets: of the live workers that admit the queue and run its
//! profile on boards, the one with the most free boards fitting it (ties:
//! the first worker id), and of those boards the first by name. Taken
//! boards leave the set for the rest of the round.

use std::collections::{BTreeMap, BTreeSet};

use testarena_events::{BoardAdmission, BoardName, Label, ProfileName, WorkerRecord};

use super::board_leases::BoardLeases;

#[derive(Debug, Default)]
pub struct FreeBoards {
    /// Per live worker with some free board, its free boards.
    by_worker: BTreeMap<String, BTreeSet<BoardName>>,
    count: u32,
}

impl FreeBoards {
    /// The ready boards of the live workers that nobody holds and that are
    /// not reserved at `now_ms`.
    pub fn of<'a>(
        workers: impl Iterator<Item = &'a WorkerRecord>,
        leases: &BoardLeases,
        now_ms: u64,
    ) -> Self {
        let mut free = Self::default();
        for worker in workers.filter(|w| !w.boards.is_empty() && w.is_live(now_ms)) {
            let names: BTreeSet<BoardName> = worker
                .boards
                .iter()
                .filter(|b| b.admission == BoardAdmission::Ready)
                .map(|b| (worker.id.clone(), b.name.clone()))
                .filter(|key| !leases.is_held(key) && !leases.is_reserved(key, now_ms))
                .map(|(_, name)| name)
                .collect();
            if !names.is_empty() {
                free.count += u32::try_from(names.len()).unwrap_or(u32::MAX);
                free.by_worker.insert(worker.id.clone(), names);
            }
        }
        free
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// The board a queue of `profile` (`None`: each worker's default)
    /// requiring `requires` gets, taken out of the set; `None` when no free
    /// board fits it.
    pub fn take(
        &mut self,
        workers: &BTreeMap<String, WorkerRecord>,
        profile: Option<&ProfileName>,
        requires: &[Label],
    ) -> Option<(String, BoardName)> {
        let mut best: Option<(usize, &str, &BoardName)> = None;
        for (id, free) in &self.by_worker {
            let Some(worker) = workers.get(id) else {
                continue;
            };
            let runs_on_boards = profile
                .or(worker.default_profile.as_ref())
                .is_some_and(|p| worker.runs_on_boards(p));
            if !runs_on_boards || !worker.admits(profile, requires) {
                continue;
            }
            let fitting: Vec<&BoardName> = worker
                .boards_for(requires)
                .map(|b| &b.name)
                .filter(|name| free.contains(*name))
                .collect();
            let Some(first) = fitting.iter().min().copied() else {
                continue;
            };
            let count = fitting.len();
            if best.is_none_or(|(most, _, _)| count > most) {
                best = Some((count, id, first));
            }
        }
        let (worker, board) = best.map(|(_, w, b)| (w.to_owned(), b.clone()))?;
        if let Some(free) = self.by_worker.get_mut(&worker) {
            free.remove(&board);
        }
        self.count -= 1;
        Some((worker, board))
    }
}
