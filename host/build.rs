//! Links the `silico` binaries to libtorch so that they run without `LD_LIBRARY_PATH` and see
//! CUDA where there is a GPU: torch-sys passes its rpath only to its own C++ shim, and the
//! linker's default `--as-needed` drops `libtorch.so` (which pulls in `libtorch_cuda.so`)
//! because no symbol is used from it directly. Also compiles `csrc/precision.cpp`, the
//! autocast and memory-format calls tch does not wrap, against the same libtorch headers.
fn main() {
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys did not report its libtorch directory (DEP_TCH_LIBTORCH_LIB)");
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
        .file("csrc/precision.cpp")
        .include(&include)
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={cxx11_abi}"))
        .warnings(false)
        .compile("silico_precision");
    println!("cargo:rustc-link-arg=-Wl,-rpath={lib}");
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-ltorch");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    println!("cargo:rerun-if-changed=csrc/precision.cpp");
}
