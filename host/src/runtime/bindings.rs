//! Host-side bindings generated from `wit/stage.wit`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
});

pub use etl::stage::log::Level;
pub use etl::stage::types::{
    Error as WitError, Info as WitInfo, Output as WitOutput, Port as WitPort, Ports as WitPorts,
};
