//! Compiles `csrc/module.cpp`, the TorchScript calls tch does not wrap, against the libtorch
//! headers tch uses, and gives this crate's test binary an rpath to libtorch (see
//! `silico_plugin_api::testing`).
fn main() {
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys reports libtorch's folder");
    // Through the `.libtorch` link to the installed wheel; the binaries keep the real path.
    let lib = std::fs::canonicalize(&lib).map_or(lib, |p| p.display().to_string());
    let include = std::path::Path::new(&lib)
        .parent()
        .expect("libtorch's lib folder has a parent")
        .join("include");
    // torch-sys's own default; PyPI wheels since torch 2.6 use the C++11 ABI.
    let cxx11_abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .file("csrc/module.cpp")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={cxx11_abi}"))
        .warnings(false)
        .compile("silico_torchscript_module");
    println!("cargo:rustc-link-arg=-Wl,-rpath={lib}");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    println!("cargo:rerun-if-changed=csrc/module.cpp");
}
