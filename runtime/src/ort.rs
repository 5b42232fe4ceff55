//! ONNX Runtime through its C API, loaded at run time (`dlopen`), as TensorFlow Lite is.
//!
//! Why a binding of our own and not the `ort` crate: edgenas needs some thirty functions of the
//! C API, the library must be optional at run time on every board (`ort`'s `load-dynamic` does
//! that too, but brings its own API surface, ndarray versions and a build script into a binary
//! that must stay under 15 MB on aarch64), and TensorFlow Lite is already loaded this way.
//! The C API is one table of function pointers (`OrtApi`) that only ever grows at the end, so a
//! function's index is fixed from the release that added it; the indices below are those of
//! `onnxruntime_c_api.h`, and [`API_VERSION`] is the oldest table that has all of them.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::backend::OrtProvider;
use crate::RuntimeError;

/// The library's file names: the release tarballs' `libonnxruntime.so` and the versioned name
/// the npm and pip packages carry.
pub const LIBRARY_NAMES: [&str; 2] = ["libonnxruntime.so", "libonnxruntime.so.1"];
/// The environment variable that names the library file to use.
pub const LIBRARY_ENV: &str = "EDGENAS_ORT_LIB";
/// The C API version asked for: ONNX Runtime 1.16 (2023) or newer.
pub const API_VERSION: u32 = 16;

type Status = *mut c_void;

/// `OrtApiBase`: the library's one exported symbol.
#[repr(C)]
struct ApiBase {
    get_api: unsafe extern "C" fn(u32) -> *const *const c_void,
    get_version_string: unsafe extern "C" fn() -> *const c_char,
}

type Ptr = *mut c_void;

/// The `OrtApi` functions edgenas calls, each at its index in the table
/// (onnxruntime_c_api.h), typed as the header declares it.
struct Fns {
    get_error_message: unsafe extern "C" fn(Status) -> *const c_char,
    create_env: unsafe extern "C" fn(c_int, *const c_char, *mut Ptr) -> Status,
    create_session_from_array:
        unsafe extern "C" fn(Ptr, *const c_void, usize, Ptr, *mut Ptr) -> Status,
    #[allow(clippy::type_complexity)]
    run: unsafe extern "C" fn(
        Ptr,
        *const c_void,
        *const *const c_char,
        *const Ptr,
        usize,
        *const *const c_char,
        usize,
        *mut Ptr,
    ) -> Status,
    create_session_options: unsafe extern "C" fn(*mut Ptr) -> Status,
    set_execution_mode: unsafe extern "C" fn(Ptr, c_int) -> Status,
    set_graph_optimization_level: unsafe extern "C" fn(Ptr, c_int) -> Status,
    set_intra_op_threads: unsafe extern "C" fn(Ptr, c_int) -> Status,
    set_inter_op_threads: unsafe extern "C" fn(Ptr, c_int) -> Status,
    input_count: unsafe extern "C" fn(Ptr, *mut usize) -> Status,
    output_count: unsafe extern "C" fn(Ptr, *mut usize) -> Status,
    input_type_info: unsafe extern "C" fn(Ptr, usize, *mut Ptr) -> Status,
    /// `SessionGetInputName` and `SessionGetOutputName`.
    io_name: [unsafe extern "C" fn(Ptr, usize, Ptr, *mut *mut c_char) -> Status; 2],
    create_tensor:
        unsafe extern "C" fn(Ptr, Ptr, usize, *const i64, usize, c_int, *mut Ptr) -> Status,
    tensor_data: unsafe extern "C" fn(Ptr, *mut Ptr) -> Status,
    cast_to_tensor_info: unsafe extern "C" fn(Ptr, *mut Ptr) -> Status,
    element_type: unsafe extern "C" fn(Ptr, *mut c_int) -> Status,
    dimensions_count: unsafe extern "C" fn(Ptr, *mut usize) -> Status,
    dimensions: unsafe extern "C" fn(Ptr, *mut i64, usize) -> Status,
    tensor_type_and_shape: unsafe extern "C" fn(Ptr, *mut Ptr) -> Status,
    create_cpu_memory_info: unsafe extern "C" fn(c_int, c_int, *mut Ptr) -> Status,
    allocator_free: unsafe extern "C" fn(Ptr, Ptr) -> Status,
    default_allocator: unsafe extern "C" fn(*mut Ptr) -> Status,
    release_status: unsafe extern "C" fn(Status),
    release_memory_info: unsafe extern "C" fn(Ptr),
    release_session: unsafe extern "C" fn(Ptr),
    release_value: unsafe extern "C" fn(Ptr),
    release_type_info: unsafe extern "C" fn(Ptr),
    release_tensor_info: unsafe extern "C" fn(Ptr),
    release_session_options: unsafe extern "C" fn(Ptr),
    available_providers: unsafe extern "C" fn(*mut *mut *mut c_char, *mut c_int) -> Status,
    release_available_providers: unsafe extern "C" fn(*mut *mut c_char, c_int) -> Status,
    append_tensorrt: unsafe extern "C" fn(Ptr, Ptr) -> Status,
    create_tensorrt_options: unsafe extern "C" fn(*mut Ptr) -> Status,
    release_tensorrt_options: unsafe extern "C" fn(Ptr),
    append_cuda: unsafe extern "C" fn(Ptr, Ptr) -> Status,
    create_cuda_options: unsafe extern "C" fn(*mut Ptr) -> Status,
    release_cuda_options: unsafe extern "C" fn(Ptr),
    #[allow(clippy::type_complexity)]
    append_provider: unsafe extern "C" fn(
        Ptr,
        *const c_char,
        *const *const c_char,
        *const *const c_char,
        usize,
    ) -> Status,
}

impl Fns {
    /// Each field from its index in `table`.
    ///
    /// # Safety
    /// `table` is an `OrtApi` of version [`API_VERSION`] or later.
    // Each transmute's target is the type of the field it fills, declared there once.
    #[allow(clippy::missing_transmute_annotations)]
    unsafe fn read(table: *const *const c_void) -> Fns {
        let f = |i: usize| *table.add(i);
        macro_rules! at {
            ($i:expr) => {
                std::mem::transmute::<*const c_void, _>(f($i))
            };
        }
        Fns {
            get_error_message: at!(2),
            create_env: at!(3),
            create_session_from_array: at!(8),
            run: at!(9),
            create_session_options: at!(10),
            set_execution_mode: at!(13),
            set_graph_optimization_level: at!(23),
            set_intra_op_threads: at!(24),
            set_inter_op_threads: at!(25),
            input_count: at!(30),
            output_count: at!(31),
            input_type_info: at!(33),
            io_name: [at!(36), at!(37)],
            create_tensor: at!(49),
            tensor_data: at!(51),
            cast_to_tensor_info: at!(55),
            element_type: at!(60),
            dimensions_count: at!(61),
            dimensions: at!(62),
            tensor_type_and_shape: at!(65),
            create_cpu_memory_info: at!(69),
            allocator_free: at!(76),
            default_allocator: at!(78),
            release_status: at!(93),
            release_memory_info: at!(94),
            release_session: at!(95),
            release_value: at!(96),
            release_type_info: at!(98),
            release_tensor_info: at!(99),
            release_session_options: at!(100),
            available_providers: at!(125),
            release_available_providers: at!(126),
            append_tensorrt: at!(170),
            create_tensorrt_options: at!(171),
            release_tensorrt_options: at!(174),
            append_cuda: at!(204),
            create_cuda_options: at!(205),
            release_cuda_options: at!(208),
            append_provider: at!(216),
        }
    }
}

const INPUT: usize = 0;
const OUTPUT: usize = 1;

/// Errors come back as statuses and are reported once, in edgenas's own line; ONNX Runtime's
/// logger would print them again, coloured, on stderr.
const ORT_LOGGING_LEVEL_FATAL: c_int = 4;
const ORT_SEQUENTIAL: c_int = 0;
const ORT_ENABLE_ALL: c_int = 99;
const ORT_ARENA_ALLOCATOR: c_int = 1;
const ORT_MEM_TYPE_DEFAULT: c_int = 0;
const FLOAT: c_int = 1;

/// The loaded library: its functions, its one environment, what it is.
struct Api {
    f: Fns,
    env: Ptr,
    path: String,
    version: String,
    /// `GetAvailableProviders`, in the library's own names (`CPUExecutionProvider`…).
    providers: Vec<String>,
}

// The functions and the environment live until the process ends; ONNX Runtime's C API is
// thread-safe for these calls.
unsafe impl Send for Api {}
unsafe impl Sync for Api {}

/// The loaded library, or why it could not be loaded (kept: asking again gives the same answer).
fn api() -> Result<&'static Api, RuntimeError> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(load)
        .as_ref()
        .map_err(|why| RuntimeError::OrtMissing(why.clone()))
}

fn load() -> Result<Api, String> {
    let lib = crate::dynlib::open(
        &crate::dynlib::candidates(LIBRARY_ENV, &LIBRARY_NAMES, "onnxruntime"),
        |tried| {
            format!(
                "libonnxruntime.so not found (looked at {tried}); get it with \
                 scripts/fetch-ort.sh in a checkout, put it beside the binary, or point \
                 {LIBRARY_ENV} at the board's own copy (a Jetson's build with CUDA and TensorRT)"
            )
        },
    )?;
    let path = lib.path.display().to_string();
    let base = lib
        .symbol("OrtGetApiBase")
        .ok_or_else(|| format!("{path} is not ONNX Runtime's library (no symbol OrtGetApiBase)"))?;
    // SAFETY: OrtGetApiBase takes nothing and returns a pointer to a static OrtApiBase, whose
    // GetApi returns the table or null for a version the library does not have.
    let (version, table) = unsafe {
        let get_base: unsafe extern "C" fn() -> *const ApiBase = std::mem::transmute(base);
        let base = &*get_base();
        (
            cstr((base.get_version_string)()),
            (base.get_api)(API_VERSION),
        )
    };
    if table.is_null() {
        return Err(format!(
            "{path} is ONNX Runtime {version}, older than the 1.{API_VERSION} edgenas needs"
        ));
    }
    let mut api = Api {
        // SAFETY: a table of API_VERSION.
        f: unsafe { Fns::read(table) },
        env: std::ptr::null_mut(),
        path,
        version,
        providers: Vec::new(),
    };
    let mut env = std::ptr::null_mut();
    // SAFETY: CreateEnv(level, log id, out).
    let status =
        unsafe { (api.f.create_env)(ORT_LOGGING_LEVEL_FATAL, c"edgenas".as_ptr(), &mut env) };
    check(&api, status).map_err(|e| format!("{}: {e}", api.path))?;
    api.env = env;
    api.providers = available_providers(&api).map_err(|e| format!("{}: {e}", api.path))?;
    Ok(api)
}

/// A C string as Rust's, `unknown` for null.
///
/// # Safety
/// `p` is null or a NUL-terminated string.
unsafe fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        "unknown".into()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// Ok for a null status; otherwise its message (on one line), the status released.
fn check(api: &Api, status: Status) -> Result<(), String> {
    if status.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null status from this library: its message is read, then it is released.
    unsafe {
        let msg = cstr((api.f.get_error_message)(status));
        (api.f.release_status)(status);
        Err(msg.replace('\n', " "))
    }
}

fn available_providers(api: &Api) -> Result<Vec<String>, String> {
    let mut list: *mut *mut c_char = std::ptr::null_mut();
    let mut n: c_int = 0;
    // SAFETY: GetAvailableProviders(out list, out length); the list is released below.
    unsafe {
        check(api, (api.f.available_providers)(&mut list, &mut n))?;
        let names = (0..n.max(0) as usize).map(|i| cstr(*list.add(i))).collect();
        check(api, (api.f.release_available_providers)(list, n))?;
        Ok(names)
    }
}

/// The library's version (`GetVersionString`), loading it if needed.
pub fn version() -> Result<String, RuntimeError> {
    api().map(|a| a.version.clone())
}

/// The file the library was loaded from.
pub fn library_path() -> Result<String, RuntimeError> {
    api().map(|a| a.path.clone())
}

/// The execution providers the loaded library can use here, as edgenas names them (`cpu`,
/// `xnnpack`, `cuda`, `tensorrt`; others by the library's own name). A provider the library
/// lists is tried once on throwaway session options: the CPU packages list CUDA and TensorRT
/// without shipping their provider libraries.
pub fn providers() -> Result<Vec<String>, RuntimeError> {
    static USABLE: OnceLock<Vec<String>> = OnceLock::new();
    let api = api()?;
    Ok(USABLE
        .get_or_init(|| {
            api.providers
                .iter()
                .filter(|listed| match OrtProvider::from_library_name(listed) {
                    Some(p) => Options::new(api, 1, p).is_ok(),
                    None => true,
                })
                .map(|p| short_provider(p))
                .collect()
        })
        .clone())
}

fn short_provider(name: &str) -> String {
    OrtProvider::from_library_name(name)
        .map(|p| p.name().to_string())
        .unwrap_or_else(|| name.to_string())
}

/// Session options: `threads` intra-op threads, one inter-op thread, sequential execution,
/// every graph optimisation, the provider appended (CPU is ONNX Runtime's own and needs
/// nothing). Released when dropped.
struct Options<'a> {
    api: &'a Api,
    ptr: Ptr,
}

impl Drop for Options<'_> {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: created by CreateSessionOptions, released once.
            unsafe { (self.api.f.release_session_options)(self.ptr) };
        }
    }
}

impl<'a> Options<'a> {
    fn new(
        api: &'a Api,
        threads: usize,
        provider: OrtProvider,
    ) -> Result<Options<'a>, RuntimeError> {
        let fail = |message: String| RuntimeError::Ort {
            stage: "set up the session".into(),
            message,
        };
        let mut o = Options {
            api,
            ptr: std::ptr::null_mut(),
        };
        let threads = threads.min(c_int::MAX as usize) as c_int;
        let f = &api.f;
        // SAFETY: the documented setters on a live options object.
        unsafe {
            check(api, (f.create_session_options)(&mut o.ptr)).map_err(fail)?;
            check(api, (f.set_intra_op_threads)(o.ptr, threads)).map_err(fail)?;
            check(api, (f.set_inter_op_threads)(o.ptr, 1)).map_err(fail)?;
            check(api, (f.set_execution_mode)(o.ptr, ORT_SEQUENTIAL)).map_err(fail)?;
            check(api, (f.set_graph_optimization_level)(o.ptr, ORT_ENABLE_ALL)).map_err(fail)?;
        }
        o.append(provider, threads).map_err(|e| RuntimeError::Ort {
            stage: format!("use --ep {}", provider.name()),
            // The CPU packages list CUDA and TensorRT but ship without their provider
            // libraries (libonnxruntime_providers_*.so), which sit beside a GPU build's.
            message: if e.contains("Failed to load") {
                format!(
                    "{e} (this build of ONNX Runtime lists it, but its provider library is not \
                     beside {}; point {LIBRARY_ENV} at a GPU build, such as a Jetson's)",
                    api.path
                )
            } else {
                e
            },
        })?;
        Ok(o)
    }

    fn append(&mut self, provider: OrtProvider, threads: c_int) -> Result<(), String> {
        let (api, f) = (self.api, &self.api.f);
        // SAFETY: each append takes the live options and, for CUDA and TensorRT, the provider's
        // own options object, created and released here.
        unsafe {
            match provider {
                OrtProvider::Cpu => Ok(()),
                OrtProvider::Xnnpack => {
                    let key = c"intra_op_num_threads";
                    let value = CString::new(threads.to_string()).expect("digits");
                    let status = (f.append_provider)(
                        self.ptr,
                        c"XNNPACK".as_ptr(),
                        &key.as_ptr(),
                        &value.as_ptr(),
                        1,
                    );
                    check(api, status)
                }
                OrtProvider::Cuda => {
                    let mut cuda = std::ptr::null_mut();
                    check(api, (f.create_cuda_options)(&mut cuda))?;
                    let r = check(api, (f.append_cuda)(self.ptr, cuda));
                    (f.release_cuda_options)(cuda);
                    r
                }
                OrtProvider::Tensorrt => {
                    let mut trt = std::ptr::null_mut();
                    check(api, (f.create_tensorrt_options)(&mut trt))?;
                    let r = check(api, (f.append_tensorrt)(self.ptr, trt));
                    (f.release_tensorrt_options)(trt);
                    r
                }
            }
        }
    }
}

/// An ONNX model in an ONNX Runtime session, ready to run one inference at a time on a fixed,
/// seeded input.
pub struct OrtModel {
    api: &'static Api,
    session: Ptr,
    memory: Ptr,
    input: Ptr,
    /// The input tensor's values; ONNX Runtime reads them in place.
    input_data: Vec<f32>,
    /// The first output, pre-allocated after the first run so that a timed run is `Run` alone.
    output: Ptr,
    output_data: Vec<f32>,
    output_shape: Vec<usize>,
    /// The input's and the first output's names.
    names: [CString; 2],
    input_shape: Vec<usize>,
    threads: usize,
    provider: OrtProvider,
    pub init_time: Duration,
}

// One model is used by one thread at a time; an ONNX Runtime session may move between threads.
unsafe impl Send for OrtModel {}

impl std::fmt::Debug for OrtModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtModel")
            .field("input_shape", &self.input_shape)
            .field("threads", &self.threads)
            .field("provider", &self.provider)
            .field("init_time", &self.init_time)
            .finish()
    }
}

impl Drop for OrtModel {
    fn drop(&mut self) {
        let f = &self.api.f;
        // SAFETY: each handle was created by this library and is released once: the values
        // (whose data this model owns) first, then the session, the memory info last.
        unsafe {
            for v in [self.output, self.input] {
                if !v.is_null() {
                    (f.release_value)(v);
                }
            }
            if !self.session.is_null() {
                (f.release_session)(self.session);
            }
            if !self.memory.is_null() {
                (f.release_memory_info)(self.memory);
            }
        }
    }
}

fn error(stage: &str) -> impl Fn(String) -> RuntimeError + '_ {
    move |message| RuntimeError::Ort {
        stage: stage.to_string(),
        message,
    }
}

impl OrtModel {
    /// Prepares a model from `.onnx` bytes (`threads` intra-op threads, input seeded by `seed`)
    /// on `provider`, which the loaded library must have.
    pub fn from_bytes(
        bytes: &[u8],
        threads: usize,
        seed: u64,
        provider: OrtProvider,
    ) -> Result<OrtModel, RuntimeError> {
        if threads == 0 {
            return Err(RuntimeError::Threads {
                threads: 0,
                message: "at least one thread is needed".into(),
            });
        }
        let api = api()?;
        let usable = || providers().unwrap_or_default().join(", ");
        if !api.providers.iter().any(|p| p == provider.library_name()) {
            return Err(RuntimeError::Unsupported(format!(
                "--ep {}: ONNX Runtime {} at {} has no {}; it has {}",
                provider.name(),
                api.version,
                api.path,
                provider.library_name(),
                usable()
            )));
        }
        let start = Instant::now();
        let options = Options::new(api, threads, provider).map_err(|e| match e {
            RuntimeError::Ort { stage, message } if stage.starts_with("use --ep") => {
                RuntimeError::Ort {
                    stage,
                    message: format!("{message}; it has {}", usable()),
                }
            }
            e => e,
        })?;
        let mut m = OrtModel {
            api,
            session: std::ptr::null_mut(),
            memory: std::ptr::null_mut(),
            input: std::ptr::null_mut(),
            input_data: Vec::new(),
            output: std::ptr::null_mut(),
            output_data: Vec::new(),
            output_shape: Vec::new(),
            names: Default::default(),
            input_shape: Vec::new(),
            threads,
            provider,
            init_time: Duration::ZERO,
        };
        // SAFETY: the model bytes and live options; the session is checked before use.
        let status = unsafe {
            (api.f.create_session_from_array)(
                api.env,
                bytes.as_ptr() as *const c_void,
                bytes.len(),
                options.ptr,
                &mut m.session,
            )
        };
        check(api, status)
            .map_err(|e| RuntimeError::InvalidOnnx(format!("ONNX Runtime refused it: {e}")))?;
        drop(options);
        m.describe()?;
        m.input_data = crate::seeded_input(m.input_shape.iter().product(), seed);
        let shape = m.input_shape.clone();
        let (ptr, len) = (m.input_data.as_mut_ptr(), m.input_data.len());
        // SAFETY: the data outlives the value (both dropped with the model, the value first).
        m.input = unsafe { m.tensor(ptr, len, &shape)? };
        // The first run allocates the output and learns its shape; the timed runs then write
        // into one buffer of that shape.
        m.first_run()?;
        m.init_time = start.elapsed();
        Ok(m)
    }

    pub fn from_file(
        path: &Path,
        threads: usize,
        seed: u64,
        provider: OrtProvider,
    ) -> Result<OrtModel, RuntimeError> {
        let bytes = std::fs::read(path).map_err(|source| RuntimeError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(&bytes, threads, seed, provider)
    }

    /// The one input's name and static shape (a symbolic dimension is taken as 1), and the
    /// first output's name.
    fn describe(&mut self) -> Result<(), RuntimeError> {
        let (api, f) = (self.api, &self.api.f);
        let fail = error("read the model's inputs");
        let (mut inputs, mut outputs) = (0usize, 0usize);
        // SAFETY: queries on a live session; the type info is released once.
        let (kind, dims) = unsafe {
            check(api, (f.input_count)(self.session, &mut inputs)).map_err(&fail)?;
            check(api, (f.output_count)(self.session, &mut outputs)).map_err(&fail)?;
            if inputs != 1 {
                return Err(RuntimeError::InvalidOnnx(format!(
                    "the model has {inputs} inputs; edgenas times models with exactly one"
                )));
            }
            if outputs < 1 {
                return Err(RuntimeError::InvalidOnnx("the model has no output".into()));
            }
            self.names = [self.name(INPUT)?, self.name(OUTPUT)?];
            let mut info = std::ptr::null_mut();
            check(api, (f.input_type_info)(self.session, 0, &mut info)).map_err(&fail)?;
            let r = tensor_info(api, info);
            (f.release_type_info)(info);
            r.map_err(&fail)?
        };
        if kind != FLOAT {
            return Err(RuntimeError::InvalidOnnx(
                "the input is not float32 (quantized inputs are not supported)".into(),
            ));
        }
        self.input_shape = dims.iter().map(|&d| d.max(1) as usize).collect();
        Ok(())
    }

    /// The name of input or output 0, copied and freed.
    ///
    /// # Safety
    /// The session is live.
    unsafe fn name(&self, which: usize) -> Result<CString, RuntimeError> {
        let (api, f) = (self.api, &self.api.f);
        let fail = error("read the model's names");
        let mut alloc = std::ptr::null_mut();
        check(api, (f.default_allocator)(&mut alloc)).map_err(&fail)?;
        let mut name: *mut c_char = std::ptr::null_mut();
        check(api, (f.io_name[which])(self.session, 0, alloc, &mut name)).map_err(&fail)?;
        let owned = CStr::from_ptr(name).to_owned();
        check(api, (f.allocator_free)(alloc, name as Ptr)).map_err(&fail)?;
        Ok(owned)
    }

    /// A CPU tensor over `len` floats at `data` with `shape`, read and written in place.
    ///
    /// # Safety
    /// `data` stays valid, and is not moved, for as long as the value lives.
    unsafe fn tensor(
        &mut self,
        data: *mut f32,
        len: usize,
        shape: &[usize],
    ) -> Result<Ptr, RuntimeError> {
        let (api, f) = (self.api, &self.api.f);
        let fail = error("create a tensor");
        if self.memory.is_null() {
            let status = (f.create_cpu_memory_info)(
                ORT_ARENA_ALLOCATOR,
                ORT_MEM_TYPE_DEFAULT,
                &mut self.memory,
            );
            check(api, status).map_err(&fail)?;
        }
        let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        let mut value = std::ptr::null_mut();
        let status = (f.create_tensor)(
            self.memory,
            data as Ptr,
            len * 4,
            dims.as_ptr(),
            dims.len(),
            FLOAT,
            &mut value,
        );
        check(api, status).map_err(&fail)?;
        Ok(value)
    }

    fn first_run(&mut self) -> Result<(), RuntimeError> {
        let (api, f) = (self.api, &self.api.f);
        let mut out = std::ptr::null_mut();
        self.run_into(&mut out)?;
        // SAFETY: `out` is the output ONNX Runtime allocated; it is read, then released once.
        let read = unsafe {
            let mut info = std::ptr::null_mut();
            let shape = check(api, (f.tensor_type_and_shape)(out, &mut info)).and_then(|()| {
                let r = shape_of(api, info);
                (f.release_tensor_info)(info);
                r
            });
            let r = shape.and_then(|(kind, dims)| {
                if kind != FLOAT {
                    return Err("the first output is not float32".to_string());
                }
                let shape: Vec<usize> = dims.iter().map(|&d| d.max(0) as usize).collect();
                let mut data = std::ptr::null_mut();
                check(api, (f.tensor_data)(out, &mut data))?;
                let n: usize = shape.iter().product();
                Ok((
                    shape,
                    std::slice::from_raw_parts(data as *const f32, n).to_vec(),
                ))
            });
            (f.release_value)(out);
            r
        };
        let (shape, values) = read.map_err(error("read the output"))?;
        self.output_data = values;
        self.output_shape = shape.clone();
        let (ptr, len) = (self.output_data.as_mut_ptr(), self.output_data.len());
        // SAFETY: the buffer outlives the value (released first in Drop) and is never resized.
        self.output = unsafe { self.tensor(ptr, len, &shape)? };
        Ok(())
    }

    /// `Run` with the one input and the first output into `out` (allocated by ONNX Runtime when
    /// null, written in place otherwise).
    fn run_into(&self, out: &mut Ptr) -> Result<(), RuntimeError> {
        let [input_name, output_name] = &self.names;
        // SAFETY: a live session, one named input value and one output slot.
        let status = unsafe {
            (self.api.f.run)(
                self.session,
                std::ptr::null(),
                &input_name.as_ptr(),
                &self.input,
                1,
                &output_name.as_ptr(),
                1,
                out,
            )
        };
        check(self.api, status).map_err(error("run the model"))
    }

    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    pub fn provider(&self) -> OrtProvider {
        self.provider
    }

    /// Runs one inference; returns the first output's shape and values.
    pub fn run(&mut self) -> Result<(Vec<usize>, Vec<f32>), RuntimeError> {
        self.run_discard()?;
        Ok((self.output_shape.clone(), self.output_data.clone()))
    }

    /// Runs one inference into the pre-allocated output: the operation the profiler times.
    pub fn run_discard(&mut self) -> Result<(), RuntimeError> {
        let mut out = self.output;
        self.run_into(&mut out)
    }
}

/// The element type and dimensions of a type info's tensor (`CastTypeInfoToTensorInfo`; the
/// tensor info belongs to `info`).
///
/// # Safety
/// `info` is a live type info.
unsafe fn tensor_info(api: &Api, info: Ptr) -> Result<(c_int, Vec<i64>), String> {
    let mut tensor = std::ptr::null_mut();
    check(api, (api.f.cast_to_tensor_info)(info, &mut tensor))?;
    if tensor.is_null() {
        return Err("the input is not a tensor".into());
    }
    shape_of(api, tensor)
}

/// # Safety
/// `info` is a live tensor type-and-shape info.
unsafe fn shape_of(api: &Api, info: Ptr) -> Result<(c_int, Vec<i64>), String> {
    let (mut kind, mut n) = (0 as c_int, 0usize);
    check(api, (api.f.element_type)(info, &mut kind))?;
    check(api, (api.f.dimensions_count)(info, &mut n))?;
    let mut dims = vec![0i64; n];
    check(api, (api.f.dimensions)(info, dims.as_mut_ptr(), n))?;
    Ok((kind, dims))
}
