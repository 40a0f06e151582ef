#[path = "../src/store/mod.rs"]
#[allow(dead_code)]
mod store;
