//! Links the `silico` binaries to libtorch so that they run without `LD_LIBRARY_PATH` and see
//! CUDA where there is a GPU: torch-sys passes its rpath only to its own C++ shim, and the
//! linker's default `--as-needed` drops `libtorch.so` (which pulls in `libtorch_cuda.so`)
//! because no symbol is used from it directly.
fn main() {
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys did not report its libtorch directory (DEP_TCH_LIBTORCH_LIB)");
    // Through the `.libtorch` link to the installed wheel; the binaries keep the real path.
    let lib = std::fs::canonicalize(&lib).map_or(lib, |p| p.display().to_string());
    println!("cargo:rustc-link-arg=-Wl,-rpath={lib}");
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-ltorch");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
}
