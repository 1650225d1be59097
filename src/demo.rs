//! The demo workspace.
