//! The dispatcher: routes every submitted queue to one worker that can run
//! it, by priority and fair share (plan.rs decides; dispatcher.rs follows
//! the events stream and the registry bucket and publishes `dispatched`).

mod dispatcher;
mod plan;

pub(crate) use dispatcher::Dispatcher;
