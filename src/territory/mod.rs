//! Territory: Ambiti territoriali, the Comuni that form them, and the conventions
//! under which each Comune uses GePI and runs PUC.

pub mod lists;
pub mod model;
pub mod service;
