//! The binary contract between host and plugins, on `abi_stable`.
//!
//! Plugin authors never use this module: [`crate::export_plugin!`] writes the glue. The host
//! loads a library's [`PluginLibraryRef`] and talks to components through the `*Box` trait
//! objects. Every entry point runs the plugin's code under [`guard`], so a panic or a libtorch
//! error comes back as an error value and never unwinds across the boundary.
//!
//! Evolution: fields and trait methods may only be appended after the one marked
//! `#[sabi(last_prefix_field)]`, together with a minor version bump of this crate. The version
//! is checked before the layout, so a library built against an older minor is refused with the
//! version mismatch alone. 0.2.0 appended `MetricObject::tables`.

use crate::{
    config::parse_config, Component, ComponentKind, Loss, LossInputs, Metric, MetricInputs,
    Network, NetworkSpec, PluginError, RDevice, RTensor, Table,
};
use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, ROption, RResult, RStr, RString, RVec, Tuple2},
    StableAbi,
};
use std::{
    cell::RefCell,
    collections::HashMap,
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Once, OnceLock,
    },
};
use tch::nn::VarStore;

/// A generator or discriminator, as the host holds it.
#[sabi_trait]
pub trait NetworkObject: Send {
    fn forward(&self, input: &RTensor, train: bool) -> RResult<RTensor, RString>;
    /// The trainable variables, for the host's optimizer.
    fn parameters(&self) -> RResult<RVec<RTensor>, RString>;
    /// Every variable (weights and running statistics) by name, sorted by name.
    fn state(&self) -> RResult<RVec<Tuple2<RString, RTensor>>, RString>;
    /// Copies `state` into the variables; names and shapes must match exactly.
    fn load_state(&mut self, state: RVec<Tuple2<RString, RTensor>>) -> RResult<(), RString>;
    #[sabi(last_prefix_field)]
    fn set_device(&mut self, device: RDevice) -> RResult<(), RString>;
}

/// A loss term, as the host holds it.
#[sabi_trait]
pub trait LossObject: Send {
    fn generator_term(&self, inputs: &LossInputs) -> RResult<RTensor, RString>;
    #[sabi(last_prefix_field)]
    fn discriminator_term(&self, inputs: &LossInputs) -> RResult<ROption<RTensor>, RString>;
}

/// A metric, as the host holds it.
#[sabi_trait]
pub trait MetricObject: Send {
    fn update(&mut self, inputs: &MetricInputs) -> RResult<RVec<Tuple2<RString, f64>>, RString>;
    #[sabi(last_prefix_field)]
    fn finish(&mut self) -> RResult<RVec<Tuple2<RString, f64>>, RString>;
    /// Since plugin-api 0.2.0.
    fn tables(&mut self) -> RResult<RVec<Table>, RString>;
}

pub type NetworkBox = NetworkObject_TO<'static, RBox<()>>;
pub type LossBox = LossObject_TO<'static, RBox<()>>;
pub type MetricBox = MetricObject_TO<'static, RBox<()>>;

/// What a library says about itself.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct Manifest {
    /// The plugin crate's name and version.
    pub name: RString,
    pub version: RString,
    /// The plugin-api and libtorch versions the library was compiled against.
    pub plugin_api_version: RString,
    pub torch_version: RString,
    pub components: RVec<ComponentInfo>,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct ComponentInfo {
    pub kind: ComponentKind,
    pub name: RString,
    pub summary: RString,
    /// The component's default registry table, as TOML.
    pub default_config: RString,
}

/// The root module every plugin library exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginLibraryRef)))]
#[sabi(missing_field(panic))]
pub struct PluginLibrary {
    pub manifest: extern "C" fn() -> RResult<Manifest, RString>,
    /// (kind, component name, config TOML, data shape)
    pub build_network: extern "C" fn(
        ComponentKind,
        RStr<'_>,
        RStr<'_>,
        NetworkSpec,
    ) -> RResult<NetworkBox, RString>,
    /// (component name, config TOML)
    pub build_loss: extern "C" fn(RStr<'_>, RStr<'_>) -> RResult<LossBox, RString>,
    #[sabi(last_prefix_field)]
    pub build_metric: extern "C" fn(RStr<'_>, RStr<'_>) -> RResult<MetricBox, RString>,
    /// Since plugin-api 0.2.0: the number of compute threads (the host's `--threads`), called
    /// right after the library is opened.
    pub set_threads: extern "C" fn(usize) -> RResult<(), RString>,
}

impl RootModule for PluginLibraryRef {
    declare_root_module_statics! {PluginLibraryRef}
    const BASE_NAME: &'static str = "silico_plugin";
    const NAME: &'static str = "silico plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// The exported symbol `abi_stable` looks up (`abi_stable::library::ROOT_MODULE_LOADER_NAME`);
/// spelled out so that `export_plugin!` works without the plugin naming `abi_stable`.
#[macro_export]
#[doc(hidden)]
macro_rules! __root_module_symbol {
    ($item:item) => {
        #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
        $item
    };
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces the plugin's panic hook (each cdylib has its own copy of std) with one that keeps
/// the message and location for [`guard`] instead of printing a backtrace to stderr.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-text panic payload".into());
            let location = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()));
            let summary = summarize_panic(&message);
            LAST_PANIC.with(|p| {
                *p.borrow_mut() = Some(format!("{summary}{}", location.unwrap_or_default()))
            });
        }));
    });
}

/// The first line of a panic message. A panicking `tch` call (the non-`f_` forms) unwraps a
/// libtorch error whose debug form carries the whole C++ backtrace after an escaped newline.
fn summarize_panic(message: &str) -> &str {
    let first = message.split("\\n").next().unwrap_or_default();
    let first = first.lines().next().unwrap_or_default();
    let first = first
        .strip_prefix("called `Result::unwrap()` on an `Err` value: ")
        .unwrap_or(first);
    first.strip_prefix("Torch(\"").unwrap_or(first).trim()
}

/// Runs plugin code, turning an error or a panic into an error value.
pub fn guard<T>(f: impl FnOnce() -> Result<T, PluginError>) -> RResult<T, RString> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => RResult::ROk(value),
        Ok(Err(e)) => RResult::RErr(e.message().into()),
        Err(_) => {
            let what = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "unknown cause".into());
            RResult::RErr(format!("plugin panicked: {what}").into())
        }
    }
}

struct NetworkAdapter<N>(N);

impl<N: Network> NetworkObject for NetworkAdapter<N> {
    fn forward(&self, input: &RTensor, train: bool) -> RResult<RTensor, RString> {
        guard(|| {
            self.0
                .forward_t(&input.to_tensor(), train)
                .map(RTensor::from)
        })
    }

    fn parameters(&self) -> RResult<RVec<RTensor>, RString> {
        guard(|| {
            Ok(self
                .0
                .var_store()
                .trainable_variables()
                .into_iter()
                .map(RTensor::from)
                .collect())
        })
    }

    fn state(&self) -> RResult<RVec<Tuple2<RString, RTensor>>, RString> {
        guard(|| {
            let mut variables: Vec<_> = self.0.var_store().variables().into_iter().collect();
            variables.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(variables
                .into_iter()
                .map(|(name, t)| Tuple2(name.into(), t.into()))
                .collect())
        })
    }

    fn load_state(&mut self, state: RVec<Tuple2<RString, RTensor>>) -> RResult<(), RString> {
        guard(|| load_state(self.0.var_store_mut(), state))
    }

    fn set_device(&mut self, device: RDevice) -> RResult<(), RString> {
        guard(|| {
            self.0.var_store_mut().set_device(device.into());
            Ok(())
        })
    }
}

fn load_state(
    store: &mut VarStore,
    state: RVec<Tuple2<RString, RTensor>>,
) -> Result<(), PluginError> {
    let mut given: HashMap<String, RTensor> = state
        .into_iter()
        .map(|Tuple2(name, t)| (name.into_string(), t))
        .collect();
    let mut variables: Vec<_> = store.variables().into_iter().collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, mut variable) in variables {
        let source = given
            .remove(&name)
            .ok_or_else(|| PluginError::new(format!("the saved state lacks `{name}`")))?
            .into_tensor();
        if source.size() != variable.size() {
            return Err(PluginError::new(format!(
                "`{name}` has shape {:?} in the saved state but {:?} in the network",
                source.size(),
                variable.size()
            )));
        }
        tch::no_grad(|| variable.f_copy_(&source))?;
    }
    if let Some(extra) = given.keys().min() {
        return Err(PluginError::new(format!(
            "the saved state has `{extra}`, which the network does not"
        )));
    }
    Ok(())
}

struct LossAdapter<L>(L);

impl<L: Loss> LossObject for LossAdapter<L> {
    fn generator_term(&self, inputs: &LossInputs) -> RResult<RTensor, RString> {
        guard(|| self.0.generator_term(inputs).map(RTensor::from))
    }

    fn discriminator_term(&self, inputs: &LossInputs) -> RResult<ROption<RTensor>, RString> {
        guard(|| Ok(self.0.discriminator_term(inputs)?.map(RTensor::from).into()))
    }
}

struct MetricAdapter<M>(M);

fn named_values(values: Vec<(String, f64)>) -> RVec<Tuple2<RString, f64>> {
    values
        .into_iter()
        .map(|(k, v)| Tuple2(k.into(), v))
        .collect()
}

impl<M: Metric> MetricObject for MetricAdapter<M> {
    // Metrics compute on the library's own pool, sized as the host's (see `set_threads`).
    fn update(&mut self, inputs: &MetricInputs) -> RResult<RVec<Tuple2<RString, f64>>, RString> {
        on_compute_pool(|| guard(|| self.0.update(inputs).map(named_values)))
    }

    fn finish(&mut self) -> RResult<RVec<Tuple2<RString, f64>>, RString> {
        on_compute_pool(|| guard(|| self.0.finish().map(named_values)))
    }

    fn tables(&mut self) -> RResult<RVec<Table>, RString> {
        on_compute_pool(|| guard(|| self.0.tables().map(RVec::from)))
    }
}

/// The threads of this library's compute pool, as the host's `--threads` says (0: rayon's
/// default, one per core). Every cdylib links its own copy of rayon, whose global pool the
/// host's cannot size, so the host hands the number to each library it opens.
static COMPUTE_THREADS: AtomicUsize = AtomicUsize::new(0);
static COMPUTE_POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();

/// The name of the `i`-th thread of a plugin library's compute pool, as
/// `/proc/<pid>/task/*/comm` shows it (Linux keeps 15 bytes: short enough to keep the index).
pub fn plugin_thread_name(i: usize) -> String {
    format!("silico-plug-{i}")
}

/// Sets the size of this library's compute pool, before its first use.
pub fn set_threads(threads: usize) -> RResult<(), RString> {
    guard(|| {
        COMPUTE_THREADS.store(threads, Ordering::SeqCst);
        match COMPUTE_POOL.get() {
            Some(pool) if threads != 0 && pool.current_num_threads() != threads => {
                Err(PluginError::new(format!(
                    "its compute pool already runs {} threads; --threads {threads} applies to the next process",
                    pool.current_num_threads()
                )))
            }
            _ => Ok(()),
        }
    })
}

/// The pool metrics compute on, started at its first use with the size the host set.
fn compute_pool() -> Result<&'static rayon::ThreadPool, PluginError> {
    if let Some(pool) = COMPUTE_POOL.get() {
        return Ok(pool);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(COMPUTE_THREADS.load(Ordering::SeqCst))
        .thread_name(plugin_thread_name)
        .build()
        .map_err(|e| PluginError::new(format!("cannot start the compute threads: {e}")))?;
    Ok(COMPUTE_POOL.get_or_init(|| pool))
}

/// Runs `work` on the compute pool; `work` catches its own panics ([`guard`]), on the pool
/// thread where they happen.
fn on_compute_pool<T: Send>(
    work: impl FnOnce() -> RResult<T, RString> + Send,
) -> RResult<T, RString> {
    match compute_pool() {
        Ok(pool) => pool.install(work),
        Err(e) => RResult::RErr(e.message().into()),
    }
}

enum Builder {
    Network(fn(&str, NetworkSpec) -> Result<NetworkBox, PluginError>),
    Loss(fn(&str) -> Result<LossBox, PluginError>),
    Metric(fn(&str) -> Result<MetricBox, PluginError>),
}

/// One exported component: what it is, and how to build it from its config.
pub struct Registration {
    kind: ComponentKind,
    name: &'static str,
    summary: &'static str,
    default_config: fn() -> Result<String, PluginError>,
    builder: Builder,
}

fn default_config<C: Component>() -> Result<String, PluginError> {
    toml::to_string(&C::Config::default()).map_err(|e| {
        PluginError::new(format!(
            "default config of `{}` is not a TOML table: {e}",
            C::NAME
        ))
    })
}

fn build_network_box<N: Network>(
    config: &str,
    spec: NetworkSpec,
) -> Result<NetworkBox, PluginError> {
    let network = N::build(parse_config(config)?, spec)?;
    Ok(NetworkObject_TO::from_value(
        NetworkAdapter(network),
        sabi_trait::TD_Opaque,
    ))
}

fn build_loss_box<L: Loss>(config: &str) -> Result<LossBox, PluginError> {
    let loss = L::build(parse_config(config)?)?;
    Ok(LossObject_TO::from_value(
        LossAdapter(loss),
        sabi_trait::TD_Opaque,
    ))
}

fn build_metric_box<M: Metric>(config: &str) -> Result<MetricBox, PluginError> {
    let metric = M::build(parse_config(config)?)?;
    Ok(MetricObject_TO::from_value(
        MetricAdapter(metric),
        sabi_trait::TD_Opaque,
    ))
}

// The constructors are named after the sections of `export_plugin!`.
impl Registration {
    fn new<C: Component>(kind: ComponentKind, builder: Builder) -> Self {
        Self {
            kind,
            name: C::NAME,
            summary: C::SUMMARY,
            default_config: default_config::<C>,
            builder,
        }
    }

    pub fn generators<N: Network>() -> Self {
        Self::new::<N>(
            ComponentKind::Generator,
            Builder::Network(build_network_box::<N>),
        )
    }

    pub fn discriminators<N: Network>() -> Self {
        Self::new::<N>(
            ComponentKind::Discriminator,
            Builder::Network(build_network_box::<N>),
        )
    }

    pub fn losses<L: Loss>() -> Self {
        Self::new::<L>(ComponentKind::Loss, Builder::Loss(build_loss_box::<L>))
    }

    pub fn metrics<M: Metric>() -> Self {
        Self::new::<M>(
            ComponentKind::Metric,
            Builder::Metric(build_metric_box::<M>),
        )
    }
}

/// The versions a library claims to be built with. `export_plugin!` fills in the real ones;
/// the host's tests build fixture libraries that claim others.
pub struct BuiltWith {
    pub plugin_api: &'static str,
    pub torch: &'static str,
}

impl BuiltWith {
    pub const THIS_BUILD: BuiltWith = BuiltWith {
        plugin_api: crate::PLUGIN_API_VERSION,
        torch: crate::TORCH_VERSION,
    };
}

pub fn manifest(
    name: &str,
    version: &str,
    built_with: &BuiltWith,
    registrations: Vec<Registration>,
) -> RResult<Manifest, RString> {
    guard(|| {
        let components = registrations
            .iter()
            .map(|r| {
                Ok(ComponentInfo {
                    kind: r.kind,
                    name: r.name.into(),
                    summary: r.summary.into(),
                    default_config: (r.default_config)()?.into(),
                })
            })
            .collect::<Result<RVec<_>, PluginError>>()?;
        Ok(Manifest {
            name: name.into(),
            version: version.into(),
            plugin_api_version: built_with.plugin_api.into(),
            torch_version: built_with.torch.into(),
            components,
        })
    })
}

fn find(
    registrations: Vec<Registration>,
    kind: ComponentKind,
    name: &str,
) -> Result<Builder, PluginError> {
    registrations
        .into_iter()
        .find(|r| r.kind == kind && r.name == name)
        .map(|r| r.builder)
        .ok_or_else(|| PluginError::new(format!("this library has no {kind} called `{name}`")))
}

pub fn build_network(
    registrations: Vec<Registration>,
    kind: ComponentKind,
    name: RStr<'_>,
    config: RStr<'_>,
    spec: NetworkSpec,
) -> RResult<NetworkBox, RString> {
    guard(|| match find(registrations, kind, name.as_str())? {
        Builder::Network(build) => build(config.as_str(), spec),
        _ => unreachable!("`find` matched the kind"),
    })
}

pub fn build_loss(
    registrations: Vec<Registration>,
    name: RStr<'_>,
    config: RStr<'_>,
) -> RResult<LossBox, RString> {
    guard(
        || match find(registrations, ComponentKind::Loss, name.as_str())? {
            Builder::Loss(build) => build(config.as_str()),
            _ => unreachable!("`find` matched the kind"),
        },
    )
}

pub fn build_metric(
    registrations: Vec<Registration>,
    name: RStr<'_>,
    config: RStr<'_>,
) -> RResult<MetricBox, RString> {
    guard(
        || match find(registrations, ComponentKind::Metric, name.as_str())? {
            Builder::Metric(build) => build(config.as_str()),
            _ => unreachable!("`find` matched the kind"),
        },
    )
}

/// Exports a plugin library's components; call it once per library, at the crate root.
///
/// Sections are `generators` and `discriminators` (types implementing [`crate::Network`]),
/// `losses` ([`crate::Loss`]) and `metrics` ([`crate::Metric`]), each a list of types (type
/// aliases and generic instances too), in any order and any combination:
///
/// ```ignore
/// // One of:
/// silico_plugin_api::export_plugin! { generators: [UNet3d] }
/// silico_plugin_api::export_plugin! { discriminators: [PatchGan3d] }
/// silico_plugin_api::export_plugin! { losses: [MeanSquaredError, PixelLoss<Absolute>] }
/// silico_plugin_api::export_plugin! { metrics: [Exclusivity] }
/// silico_plugin_api::export_plugin! {
///     generators: [UNet3d, R2UNet3d],
///     discriminators: [PatchGan3d],
///     losses: [Huber],
///     metrics: [Exclusivity],
/// }
/// ```
///
/// A registry names each component by its [`crate::Component::NAME`].
#[macro_export]
macro_rules! export_plugin {
    ($($kind:ident: [$($component:ty),* $(,)?]),* $(,)?) => {
        $crate::export_plugin! {
            @built_with $crate::__private::BuiltWith::THIS_BUILD;
            $($kind: [$($component),*]),*
        }
    };
    (@built_with $built_with:expr; $($kind:ident: [$($component:ty),* $(,)?]),* $(,)?) => {
        const _: () = {
            use $crate::__private::{abi_stable, Registration};
            use abi_stable::std_types::{RResult, RStr, RString};

            fn registrations() -> ::std::vec::Vec<Registration> {
                ::std::vec![$($(Registration::$kind::<$component>(),)*)*]
            }
            extern "C" fn manifest() -> RResult<$crate::__private::Manifest, RString> {
                $crate::__private::manifest(
                    env!("CARGO_PKG_NAME"),
                    env!("CARGO_PKG_VERSION"),
                    &$built_with,
                    registrations(),
                )
            }
            extern "C" fn build_network(
                kind: $crate::ComponentKind,
                name: RStr<'_>,
                config: RStr<'_>,
                spec: $crate::NetworkSpec,
            ) -> RResult<$crate::__private::NetworkBox, RString> {
                $crate::__private::build_network(registrations(), kind, name, config, spec)
            }
            extern "C" fn build_loss(name: RStr<'_>, config: RStr<'_>) -> RResult<$crate::__private::LossBox, RString> {
                $crate::__private::build_loss(registrations(), name, config)
            }
            extern "C" fn build_metric(name: RStr<'_>, config: RStr<'_>) -> RResult<$crate::__private::MetricBox, RString> {
                $crate::__private::build_metric(registrations(), name, config)
            }
            extern "C" fn set_threads(threads: usize) -> RResult<(), RString> {
                $crate::__private::set_threads(threads)
            }
            fn root_module() -> $crate::__private::PluginLibraryRef {
                use abi_stable::prefix_type::PrefixTypeTrait;
                $crate::__private::install_panic_hook();
                $crate::__private::PluginLibrary { manifest, build_network, build_loss, build_metric, set_threads }
                    .leak_into_prefix()
            }
            $crate::__root_module_symbol! {
                pub static LIB_HEADER: abi_stable::library::LibHeader = {
                    extern "C" fn load() -> abi_stable::library::RootModuleResult {
                        abi_stable::library::__call_root_module_loader(root_module)
                    }
                    // SAFETY: `load` returns the root module type named here, as
                    // `#[export_root_module]` would generate.
                    unsafe {
                        abi_stable::library::LibHeader::from_constructor::<$crate::__private::PluginLibraryRef>(
                            load,
                            abi_stable::library::CheckTypeLayout::Yes,
                        )
                    }
                };
            }
        };
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn panics_from_tch_keep_the_libtorch_message_only() {
        let raw = "called `Result::unwrap()` on an `Err` value: Torch(\"shape '[-1, 7]' is invalid\\nException raised from infer_size_impl\\nframe #0: ...\")";
        assert_eq!(super::summarize_panic(raw), "shape '[-1, 7]' is invalid");
        assert_eq!(
            super::summarize_panic("index out of bounds\nmore"),
            "index out of bounds"
        );
    }

    #[test]
    fn root_module_symbol_matches_abi_stable() {
        assert_eq!(
            abi_stable::library::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }
}
