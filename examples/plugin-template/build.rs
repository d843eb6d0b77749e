//! Gives this crate's test binary an rpath to libtorch, which `cargo test` does not find by
//! itself (see `silico_plugin_api::testing`).
fn main() {
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys reports libtorch's folder");
    println!("cargo:rustc-link-arg=-Wl,-rpath={lib}");
}
