//! The `silico` command line: listing plugins, checking models, and one clear line for every
//! kind of bad input, with a non-zero exit.

mod common;

use common::{run_silico, scratch_registry, silico_bin, TINY};
use std::process::Command;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `silico check` on a registry that must be refused before any model is built; returns
/// the single error line.
fn refused(registry_text: &str) -> String {
    let registry = scratch_registry(registry_text);
    let output = run_silico(&registry, &["check"]);
    let stderr = text(&output.stderr);
    assert!(
        !output.status.success(),
        "expected failure, stdout: {}",
        text(&output.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "one line, got: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains(registry.path.to_str().unwrap()),
        "names the registry file: {stderr}"
    );
    stderr.trim_end().to_string()
}

/// Runs `silico check` on a registry whose libraries load but one model fails; returns that
/// model's report line.
fn failing_model(registry_text: &str, model: &str) -> (String, String) {
    let registry = scratch_registry(registry_text);
    let output = run_silico(&registry, &["check"]);
    assert!(!output.status.success());
    let stdout = text(&output.stdout);
    let prefix = format!("FAIL  {model} fp32: ");
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no FAIL line: {stdout}"));
    (line.to_string(), text(&output.stderr))
}

#[test]
fn plugins_lists_libraries_and_components() {
    let registry = scratch_registry(TINY);
    let output = run_silico(&registry, &["plugins", "--defaults"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("losses — silico-losses 0.1.0"), "{stdout}");
    assert!(stdout.contains("loss           mse"), "{stdout}");
    assert!(stdout.contains("loss           l1"), "{stdout}");
    assert!(stdout.contains("generator      unet3d"), "{stdout}");
    assert!(
        stdout.contains("mult_chan = 32"),
        "defaults listed: {stdout}"
    );
}

#[test]
fn check_runs_forward_and_backward_per_model() {
    let registry = scratch_registry(&format!(
        "{TINY}\n[models.tiny-l1]\ngenerator = {{ component = \"unet3d\", depth = 1, mult_chan = 2 }}\nlosses = [{{ component = \"l1\" }}]\n"
    ));
    let output = run_silico(&registry, &["check"]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(
        stdout.contains("ok    tiny fp32: generator `unet3d`")
            && stdout.contains("ok    tiny bf16: generator")
            && stdout.contains("ok    tiny fp16: generator"),
        "{stdout}"
    );
    assert!(stdout.contains("loss terms: mse "), "{stdout}");
    assert!(
        stdout.contains("ok    tiny-l1 fp32: generator `unet3d`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("6 of 6 checks passed (2 models × 3 precisions), 0 failed"),
        "{stdout}"
    );
}

#[test]
fn invalid_toml() {
    let line = refused("[plugins]\nlosses = \n");
    assert!(line.contains("invalid TOML at line 2, column 10"), "{line}");
}

#[test]
fn unknown_key() {
    let line = refused(&TINY.replace("losses = [", "loses = ["));
    assert!(
        line.contains("key `models.tiny.loses`: unknown field `loses`"),
        "{line}"
    );
}

#[test]
fn unknown_component() {
    let (line, _) = failing_model(
        &TINY.replace("\"unet3d\", depth", "\"unet3e\", depth"),
        "tiny",
    );
    assert!(
        line.contains(
            "no plugin library provides a generator called `unet3e` (known generators: unet3d)"
        ),
        "{line}"
    );
}

#[test]
fn missing_library_file() {
    let line = refused(&TINY.replacen(
        "[plugins]\n",
        "[plugins]\nghost = \"plugins/libghost.so\"\n",
        1,
    ));
    assert!(line.contains("plugin library `ghost` ("), "{line}");
    assert!(
        line.contains("plugins/libghost.so): no such file; build the plugins"),
        "{line}"
    );
}

#[test]
fn not_a_shared_library() {
    let registry =
        scratch_registry(&TINY.replacen("[plugins]\n", "[plugins]\nnotes = \"notes.so\"\n", 1));
    std::fs::write(registry.dir.path().join("notes.so"), "just some text\n").unwrap();
    let output = run_silico(&registry, &["plugins"]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("plugin library `notes` ("), "{stderr}");
    assert!(stderr.contains("not a loadable shared library"), "{stderr}");
}

#[test]
fn library_built_against_another_plugin_api() {
    let line = refused(&TINY.replacen(
        "[plugins]\n",
        "[plugins]\nold = \"{fixture:old_plugin_api}\"\n",
        1,
    ));
    assert!(line.contains("plugin library `old` ("), "{line}");
    assert!(
        line.contains("built against silico-plugin-api 0.0.9, but this host uses 0.2.0; rebuild the plugin against plugin-api 0.2.0"),
        "{line}"
    );
}

#[test]
fn library_built_against_the_previous_plugin_abi() {
    let library = common::library("silico_fixture_old_abi");
    let line =
        refused(&TINY.replacen("[plugins]\n", "[plugins]\nold = \"{fixture:old_abi}\"\n", 1));
    // Refused by abi_stable's version check, before it compares the (different) layouts.
    assert!(
        line.ends_with(&format!(
            "plugin library `old` ({}): built against silico-plugin-api 0.1.0, but this host uses 0.2.0; rebuild the plugin",
            library.display()
        )),
        "{line}"
    );
}

#[test]
fn library_built_against_another_torch() {
    let line = refused(&TINY.replacen(
        "[plugins]\n",
        "[plugins]\nother = \"{fixture:other_torch}\"\n",
        1,
    ));
    assert!(line.contains("plugin library `other` ("), "{line}");
    assert!(
        line.contains("built against torch 1.13.1, but this host uses torch 2.13.0"),
        "{line}"
    );
}

#[test]
fn component_config_with_a_wrong_type() {
    let (line, _) = failing_model(&TINY.replace("depth = 2", "depth = \"2\""), "tiny");
    assert!(line.contains("models.tiny.generator"), "{line}");
    assert!(
        line.contains("key `depth`: invalid type: string \"2\", expected u32"),
        "{line}"
    );
}

#[test]
fn panic_inside_forward_is_reported_and_the_run_goes_on() {
    let registry = format!(
        "{}\n[models.broken]\ngenerator = {{ component = \"panicking\" }}\nlosses = [{{ component = \"mse\" }}]\n",
        TINY.replacen("[plugins]\n", "[plugins]\npanicking = \"{fixture:panicking}\"\n", 1)
    );
    let (line, stderr) = failing_model(&registry, "broken");
    assert!(
        line.contains("generator `panicking` forward: plugin panicked:"),
        "{line}"
    );
    assert!(
        line.contains("shape '[-1, 7]' is invalid for input of size 32768"),
        "{line}"
    );
    assert!(
        stderr.is_empty(),
        "no panic message or backtrace on stderr: {stderr}"
    );
    let registry = scratch_registry(&registry);
    let stdout = text(&run_silico(&registry, &["check"]).stdout);
    assert!(
        stdout.contains("ok    tiny fp32:"),
        "the other model still ran: {stdout}"
    );
    assert!(stdout.contains("3 of 6 checks passed"), "{stdout}");
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    for subcommand in ["plugins", "check"] {
        let output = Command::new(silico_bin())
            .args([subcommand, "--help"])
            .output()
            .unwrap();
        let stdout = text(&output.stdout);
        assert!(output.status.success());
        assert!(
            stdout.contains("Example:\n  silico "),
            "{subcommand}: {stdout}"
        );
    }
}

#[test]
fn example_registry_with_the_template_plugin_checks() {
    let registry =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/registry.toml");
    let output = Command::new(silico_bin())
        .arg("check")
        .arg("--registry")
        .arg(&registry)
        .output()
        .unwrap();
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(
        stdout.contains("ok    unet-huber fp32:") && stdout.contains("loss terms: huber "),
        "{stdout}"
    );
    assert!(
        stdout.contains("loss terms: mse ") && stdout.contains(", huber "),
        "{stdout}"
    );
}
