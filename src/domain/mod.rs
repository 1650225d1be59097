//! The pure core: policy model, workflow state machine, events and time. No I/O here.

pub mod event;
pub mod landing;
pub mod policy;
pub mod time;
pub mod workflow;
