//! The WIT glue inside the sandbox: adapts a [`Stage`] to the exported `etl:stage/stage`
//! interface. Only built for `wasm32`; plugin authors reach it through [`crate::export_stage!`].

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::Once;

use crate::driver::{Driver, PortBatches};
use etl_format::ipc;

use crate::{Error, Stage};

/// The generated bindings for the `plugin` world.
pub mod wit {
    wit_bindgen::generate!({
        path: "wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin",
        default_bindings_module: "::etl_sdk::guest::wit",
        runtime_path: "::etl_sdk::guest::wit_bindgen::rt",
    });
}

pub use wit::__export_plugin;
pub use wit_bindgen;

use wit::etl::stage::types as wit_types;
use wit::exports::etl::stage::stage as exports;

/// The component type for stage `S`; [`crate::export_stage!`] exports it.
#[allow(missing_debug_implementations)]
pub struct Component<S>(PhantomData<S>);

/// One open instance of stage `S`. The WIT methods take `&self`, hence the `RefCell`.
#[allow(missing_debug_implementations)]
pub struct Instance<S> {
    driver: RefCell<Driver<S>>,
}

impl<S: Stage + 'static> exports::Guest for Component<S> {
    type Instance = Instance<S>;

    fn describe() -> wit_types::Info {
        let info = S::info();
        wit_types::Info {
            name: info.name,
            version: info.version,
            description: info.description,
            inputs: to_wit_ports(info.inputs),
            outputs: to_wit_ports(info.outputs),
            config_help: info.config_help,
        }
    }
}

fn to_wit_ports(ports: Vec<crate::Port>) -> Vec<wit_types::Port> {
    ports.into_iter().map(|p| wit_types::Port { name: p.name, description: p.description }).collect()
}

impl<S: Stage + 'static> exports::GuestInstance for Instance<S> {
    fn open(config: String) -> Result<exports::Instance, wit_types::Error> {
        install_panic_hook();
        let driver = Driver::<S>::open(&config).map_err(to_wit)?;
        Ok(exports::Instance::new(Instance { driver: RefCell::new(driver) }))
    }

    fn ports(&self) -> wit_types::Ports {
        let ports = self.driver.borrow().ports().clone();
        wit_types::Ports { inputs: to_wit_ports(ports.inputs), outputs: to_wit_ports(ports.outputs) }
    }

    fn push(&self, port: String, batch: Vec<u8>) -> Result<Vec<wit_types::Output>, wit_types::Error> {
        // SAFETY: the host encodes every pushed batch from valid Arrow arrays (and validates
        // everything a plugin returns before it travels on); see `host/src/runtime/instance.rs`.
        let (_, batches) = unsafe { ipc::decode_trusted(batch) }
            .map_err(|e| wit_types::Error::InvalidInput(format!("port `{port}`: undecodable Arrow IPC: {e}")))?;
        let outputs = self.driver.borrow_mut().push(&port, batches).map_err(to_wit)?;
        encode(outputs)
    }

    fn finish(&self) -> Result<Vec<wit_types::Output>, wit_types::Error> {
        let outputs = self.driver.borrow_mut().finish().map_err(to_wit)?;
        encode(outputs)
    }

    fn metrics(&self) -> Vec<wit_types::Metric> {
        self.driver.borrow().metrics().into_iter().map(|m| wit_types::Metric { name: m.name, value: m.value }).collect()
    }
}

fn encode(outputs: Vec<PortBatches>) -> Result<Vec<wit_types::Output>, wit_types::Error> {
    outputs
        .into_iter()
        .map(|PortBatches { port, batches }| {
            let schema = batches[0].schema();
            let batch = ipc::encode(&schema, &batches)
                .map_err(|e| wit_types::Error::Failed(format!("output port `{port}`: cannot encode batches: {e}")))?;
            Ok(wit_types::Output { port, batch })
        })
        .collect()
}

fn to_wit(error: Error) -> wit_types::Error {
    match error {
        Error::InvalidConfig(m) => wit_types::Error::InvalidConfig(m),
        Error::InvalidInput(m) => wit_types::Error::InvalidInput(m),
        Error::Failed(m) => wit_types::Error::Failed(m),
    }
}

/// Sends a panic's message to the host's log before the instance traps, so the host can say
/// why the stage died instead of only "unreachable". Stages built with [`crate::export_stage!`]
/// get it in `open`; a plugin that implements the WIT interface by hand should call it there too.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = info.payload_as_str().unwrap_or("(no message)");
            let at = info.location().map(|l| format!(" (at {}:{})", l.file(), l.line())).unwrap_or_default();
            crate::log::error(&format!("panic: {message}{at}"));
        }));
    });
}
