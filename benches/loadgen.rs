//! Placeholder: the load generator lands in the next commit.
fn main() {}
