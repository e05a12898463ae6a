//! The dispatcher: routes every submitted queue to one worker that can run
//! it, by priority and fair share (plan.rs decides over wanting_order.rs's
//! index; dispatcher.rs follows the events stream and the registry bucket
//! and publishes `dispatched`).

mod board_leases;
mod board_notice;
mod dispatcher;
mod free_boards;
mod plan;
mod ranked_seqs;
mod wanting_order;

pub(crate) use dispatcher::Dispatcher;

#[cfg(test)]
mod plan_board_tests;
#[cfg(test)]
mod plan_equivalence_tests;
#[cfg(test)]
mod plan_scale_tests;
#[cfg(test)]
mod reference_plan;
