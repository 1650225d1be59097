//! Test doubles that behave like the real services, over real TCP: used by the integration
//! tests, the benchmarks, the demo (`demo --serve`) and runnable on their own as examples.

pub mod backports;
pub mod bench;
pub mod chat_server;
pub mod github_server;
pub mod gitrepo;
pub mod jira_server;
pub mod pty;
pub mod serve;
