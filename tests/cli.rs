#[test] fn placeholder_until_written() {}
