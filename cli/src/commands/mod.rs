//! One module per verb.

pub mod conformance;
pub mod help;
pub mod init;
pub mod scan;
pub mod version;
