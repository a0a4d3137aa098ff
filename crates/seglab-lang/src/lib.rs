//! The seglab segment language (work in progress: the syntax tree).

pub mod ast;
