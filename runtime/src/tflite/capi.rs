//! TensorFlow Lite through its C API, loaded at run time (`dlopen`).
//!
//! The library is opened only when a TFLite model is asked for, so one edgenas binary runs on
//! every board, with or without TensorFlow Lite: linking it (as `tflitec` does) would make the
//! loader refuse to start edgenas at all where the library is missing. The symbols used are the
//! stable C API of `tensorflow/lite/c/c_api.h` (TensorFlow Lite 2.x).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::backend::TfliteDelegate;
use crate::RuntimeError;

/// The library's file name, as TensorFlow's build and the -tflite tarballs name it.
pub const LIBRARY: &str = "libtensorflowlite_c.so";
/// The environment variable that names the library file to use.
pub const LIBRARY_ENV: &str = "EDGENAS_TFLITE_LIB";

/// `TfLiteXNNPackDelegateOptions`. TensorFlow Lite 2.9's is `{int32 num_threads; uint32 flags}`
/// (its `OptionsDefault` returns zeroes); later releases and LiteRT append fields (a weights
/// cache, variable ops, cache files) whose zero value is their default. A zeroed block larger
/// than any of them is handed over, so a newer library reads zeros past the fields set here,
/// never past the end; the struct is not returned by value, whose ABI depends on its size.
#[repr(C)]
struct XnnpackOptions {
    num_threads: i32,
    flags: u32,
    _rest: [u64; 30],
}

type Reporter = unsafe extern "C" fn(*mut c_void, *const c_char, *mut c_void);

/// The C API functions edgenas calls.
struct Api {
    version: unsafe extern "C" fn() -> *const c_char,
    model_create: unsafe extern "C" fn(*const c_void, usize) -> *mut c_void,
    model_delete: unsafe extern "C" fn(*mut c_void),
    options_create: unsafe extern "C" fn() -> *mut c_void,
    options_delete: unsafe extern "C" fn(*mut c_void),
    options_set_threads: unsafe extern "C" fn(*mut c_void, i32),
    options_set_reporter: unsafe extern "C" fn(*mut c_void, Reporter, *mut c_void),
    interpreter_create: unsafe extern "C" fn(*const c_void, *const c_void) -> *mut c_void,
    interpreter_delete: unsafe extern "C" fn(*mut c_void),
    allocate_tensors: unsafe extern "C" fn(*mut c_void) -> c_int,
    input_count: unsafe extern "C" fn(*const c_void) -> i32,
    input_tensor: unsafe extern "C" fn(*const c_void, i32) -> *mut c_void,
    invoke: unsafe extern "C" fn(*mut c_void) -> c_int,
    output_count: unsafe extern "C" fn(*const c_void) -> i32,
    output_tensor: unsafe extern "C" fn(*const c_void, i32) -> *const c_void,
    tensor_type: unsafe extern "C" fn(*const c_void) -> c_int,
    tensor_num_dims: unsafe extern "C" fn(*const c_void) -> i32,
    tensor_dim: unsafe extern "C" fn(*const c_void, i32) -> i32,
    tensor_byte_size: unsafe extern "C" fn(*const c_void) -> usize,
    copy_from: unsafe extern "C" fn(*mut c_void, *const c_void, usize) -> c_int,
    copy_to: unsafe extern "C" fn(*const c_void, *mut c_void, usize) -> c_int,
    xnnpack_create: Option<unsafe extern "C" fn(*const XnnpackOptions) -> *mut c_void>,
    xnnpack_delete: Option<unsafe extern "C" fn(*mut c_void)>,
    add_delegate: Option<unsafe extern "C" fn(*mut c_void, *mut c_void)>,
    /// The file the library was loaded from.
    path: String,
    version_string: String,
}

// The function pointers are plain code addresses of a library that is never unloaded.
unsafe impl Send for Api {}
unsafe impl Sync for Api {}

const K_TFLITE_OK: c_int = 0;
const K_TFLITE_FLOAT32: c_int = 1;

/// The loaded library, or why it could not be loaded (kept: asking again gives the same answer).
fn api() -> Result<&'static Api, RuntimeError> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(load)
        .as_ref()
        .map_err(|why| RuntimeError::TfliteMissing(why.clone()))
}

/// Where the library is looked for: `$EDGENAS_TFLITE_LIB` (a board's own TensorFlow Lite or
/// LiteRT 2.x C library), beside the binary, the checkout's `third_party/tflite/`, the loader's path.
fn load() -> Result<Api, String> {
    let lib = crate::dynlib::open(
        &crate::dynlib::candidates(LIBRARY_ENV, &[LIBRARY], "tflite"),
        |tried| {
            format!(
                "{LIBRARY} not found (looked at {tried}); get it with the -tflite tarball (it sits \
                 beside the binary), scripts/fetch-tflite.sh in a checkout, or point {LIBRARY_ENV} \
                 at the board's own copy"
            )
        },
    )?;
    resolve(&lib).map_err(|sym| {
        format!(
            "{} is not a TensorFlow Lite C library (no symbol {sym})",
            lib.path.display()
        )
    })
}

// Each transmute's target is the type of the `Api` field it fills, declared there once.
#[allow(clippy::missing_transmute_annotations)]
fn resolve(lib: &crate::dynlib::Library) -> Result<Api, &'static str> {
    macro_rules! sym {
        ($name:literal) => {{
            let Some(p) = lib.symbol($name) else {
                return Err($name);
            };
            // SAFETY: the C API declares the symbol with the signature of the field it fills.
            unsafe { std::mem::transmute::<*mut c_void, _>(p) }
        }};
    }
    let mut api = Api {
        version: sym!("TfLiteVersion"),
        model_create: sym!("TfLiteModelCreate"),
        model_delete: sym!("TfLiteModelDelete"),
        options_create: sym!("TfLiteInterpreterOptionsCreate"),
        options_delete: sym!("TfLiteInterpreterOptionsDelete"),
        options_set_threads: sym!("TfLiteInterpreterOptionsSetNumThreads"),
        options_set_reporter: sym!("TfLiteInterpreterOptionsSetErrorReporter"),
        interpreter_create: sym!("TfLiteInterpreterCreate"),
        interpreter_delete: sym!("TfLiteInterpreterDelete"),
        allocate_tensors: sym!("TfLiteInterpreterAllocateTensors"),
        input_count: sym!("TfLiteInterpreterGetInputTensorCount"),
        input_tensor: sym!("TfLiteInterpreterGetInputTensor"),
        invoke: sym!("TfLiteInterpreterInvoke"),
        output_count: sym!("TfLiteInterpreterGetOutputTensorCount"),
        output_tensor: sym!("TfLiteInterpreterGetOutputTensor"),
        tensor_type: sym!("TfLiteTensorType"),
        tensor_num_dims: sym!("TfLiteTensorNumDims"),
        tensor_dim: sym!("TfLiteTensorDim"),
        tensor_byte_size: sym!("TfLiteTensorByteSize"),
        copy_from: sym!("TfLiteTensorCopyFromBuffer"),
        copy_to: sym!("TfLiteTensorCopyToBuffer"),
        // The XNNPACK delegate's entry points (TensorFlow Lite's own builds and LiteRT have them);
        // only `--tflite-delegate xnnpack` needs them.
        xnnpack_create: lib
            .symbol("TfLiteXNNPackDelegateCreate")
            // SAFETY: the delegate's C API declares the symbol with this field's signature.
            .map(|p| unsafe { std::mem::transmute::<*mut c_void, _>(p) }),
        xnnpack_delete: lib
            .symbol("TfLiteXNNPackDelegateDelete")
            // SAFETY: as above.
            .map(|p| unsafe { std::mem::transmute::<*mut c_void, _>(p) }),
        add_delegate: lib
            .symbol("TfLiteInterpreterOptionsAddDelegate")
            // SAFETY: as above.
            .map(|p| unsafe { std::mem::transmute::<*mut c_void, _>(p) }),
        path: lib.path.display().to_string(),
        version_string: String::new(),
    };
    // SAFETY: TfLiteVersion returns a static NUL-terminated string.
    let v = unsafe { (api.version)() };
    api.version_string = if v.is_null() {
        "unknown".into()
    } else {
        unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned()
    };
    Ok(api)
}

/// The library's version (`TfLiteVersion()`), loading it if needed.
pub fn version() -> Result<String, RuntimeError> {
    api().map(|a| a.version_string.clone())
}

/// The delegates the loaded library offers: `none` always, `xnnpack` where it has XNNPACK.
pub fn delegates() -> Vec<String> {
    let mut out = vec![TfliteDelegate::None.name().to_string()];
    if api().is_ok_and(|a| a.xnnpack_create.is_some() && a.add_delegate.is_some()) {
        out.push(TfliteDelegate::Xnnpack.name().to_string());
    }
    out
}

/// The file the library was loaded from.
pub fn library_path() -> Result<String, RuntimeError> {
    api().map(|a| a.path.clone())
}

extern "C" {
    // The reporter's `va_list` arrives as one pointer-sized argument on x86_64 (an array that
    // decays), aarch64 (a struct over 16 bytes, passed by reference) and armv7 (a one-pointer
    // struct): it is handed on to vsnprintf unchanged.
    fn vsnprintf(buf: *mut c_char, n: usize, format: *const c_char, args: *mut c_void) -> c_int;
}

/// Collects TFLite's error messages (they would otherwise go to stderr, unattributed).
unsafe extern "C" fn report(user: *mut c_void, format: *const c_char, args: *mut c_void) {
    let mut buf = [0 as c_char; 512];
    // SAFETY: buf is writable for its length; format and args come from TFLite together.
    let n = unsafe { vsnprintf(buf.as_mut_ptr(), buf.len(), format, args) };
    if n < 0 || user.is_null() {
        return;
    }
    let msg = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy();
    // SAFETY: user is the model's Box<Mutex<Vec<String>>>, alive as long as the interpreter.
    let log = unsafe { &*(user as *const Mutex<Vec<String>>) };
    if let Ok(mut log) = log.lock() {
        log.push(msg.trim().replace('\n', " "));
    }
}

/// The seeded input in the model's layout. A 4-D input is taken as NHWC and filled as tract
/// fills the NCHW input of the same seed, then transposed: both runtimes then see the same
/// image, and `infer` prints the same output under either.
fn seeded_input(shape: &[usize], seed: u64) -> Vec<f32> {
    let values = crate::seeded_input(shape.iter().product(), seed);
    let &[batch, h, w, c] = shape else {
        return values;
    };
    super::nchw_to_nhwc(&values, [batch, c, h, w])
}

/// Runs `f` with file descriptor 2 pointed at /dev/null. TensorFlow Lite's minimal logger
/// writes "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." straight to stderr (not
/// through the error reporter) when the delegate is created; edgenas's stderr carries its own
/// one-line messages and progress, so that line is dropped. Models are created on one thread,
/// outside any timed run; the window is the delegate's creation alone.
fn without_stderr<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: plain descriptor calls; fd 2 is restored before returning.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        let saved = libc::dup(2);
        if null < 0 || saved < 0 {
            for fd in [null, saved] {
                if fd >= 0 {
                    libc::close(fd);
                }
            }
            return f();
        }
        libc::dup2(null, 2);
        libc::close(null);
        let out = f();
        libc::dup2(saved, 2);
        libc::close(saved);
        out
    }
}

/// A `.tflite` model ready to run one inference at a time on a fixed, seeded input.
pub struct TfliteModel {
    api: &'static Api,
    interpreter: *mut c_void,
    model: *mut c_void,
    options: *mut c_void,
    /// The XNNPACK delegate, when applied; deleted after the interpreter.
    delegate: *mut c_void,
    delegate_kind: TfliteDelegate,
    /// The flatbuffer, 16-byte aligned; TFLite reads weights from it in place.
    _bytes: Vec<u128>,
    errors: Box<Mutex<Vec<String>>>,
    input_shape: Vec<usize>,
    threads: usize,
    pub init_time: Duration,
}

// One model is used by one thread at a time; TFLite's interpreter may move between threads.
unsafe impl Send for TfliteModel {}

impl std::fmt::Debug for TfliteModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TfliteModel")
            .field("input_shape", &self.input_shape)
            .field("threads", &self.threads)
            .field("init_time", &self.init_time)
            .finish()
    }
}

impl Drop for TfliteModel {
    fn drop(&mut self) {
        // SAFETY: each pointer was created by the matching Create and is deleted once.
        unsafe {
            if !self.interpreter.is_null() {
                (self.api.interpreter_delete)(self.interpreter);
            }
            if !self.options.is_null() {
                (self.api.options_delete)(self.options);
            }
            if !self.model.is_null() {
                (self.api.model_delete)(self.model);
            }
            if let (false, Some(delete)) = (self.delegate.is_null(), self.api.xnnpack_delete) {
                delete(self.delegate);
            }
        }
    }
}

impl TfliteModel {
    /// Prepares a model from `.tflite` bytes (`threads` inference threads, input seeded by
    /// `seed`), with the XNNPACK delegate applied or not.
    pub fn from_bytes(
        bytes: &[u8],
        threads: usize,
        seed: u64,
        delegate: TfliteDelegate,
    ) -> Result<TfliteModel, RuntimeError> {
        if threads == 0 {
            return Err(RuntimeError::Threads {
                threads: 0,
                message: "at least one thread is needed".into(),
            });
        }
        if bytes.len() < 8 || &bytes[4..8] != b"TFL3" {
            return Err(RuntimeError::InvalidTflite(
                "not a TensorFlow Lite flatbuffer (no TFL3 identifier)".into(),
            ));
        }
        let api = api()?;
        let start = Instant::now();
        let mut aligned = vec![0u128; bytes.len().div_ceil(16)];
        // SAFETY: `aligned` holds at least bytes.len() bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                aligned.as_mut_ptr() as *mut u8,
                bytes.len(),
            )
        };
        let mut m = TfliteModel {
            api,
            interpreter: std::ptr::null_mut(),
            model: std::ptr::null_mut(),
            options: std::ptr::null_mut(),
            delegate: std::ptr::null_mut(),
            delegate_kind: delegate,
            _bytes: aligned,
            errors: Box::new(Mutex::new(Vec::new())),
            input_shape: Vec::new(),
            threads,
            init_time: Duration::ZERO,
        };
        // SAFETY: the C API's documented sequence; every result is checked before use, and the
        // bytes and the error log outlive the interpreter (they are dropped after it).
        unsafe {
            m.model = (api.model_create)(m._bytes.as_ptr() as *const c_void, bytes.len());
            if m.model.is_null() {
                return Err(RuntimeError::InvalidTflite(
                    "TensorFlow Lite refused the flatbuffer (it failed verification)".into(),
                ));
            }
            m.options = (api.options_create)();
            (api.options_set_threads)(m.options, threads.min(i32::MAX as usize) as i32);
            (api.options_set_reporter)(
                m.options,
                report,
                &*m.errors as *const Mutex<Vec<String>> as *mut c_void,
            );
            if delegate == TfliteDelegate::Xnnpack {
                m.delegate = m.xnnpack(threads)?;
            }
            m.interpreter = (api.interpreter_create)(m.model, m.options);
            if m.interpreter.is_null() {
                return Err(m.failure("create the interpreter"));
            }
            if (api.allocate_tensors)(m.interpreter) != K_TFLITE_OK {
                return Err(m.failure("allocate the tensors"));
            }
            let inputs = (api.input_count)(m.interpreter);
            if inputs != 1 {
                return Err(RuntimeError::InvalidTflite(format!(
                    "the model has {inputs} inputs; edgenas times models with exactly one"
                )));
            }
            if (api.output_count)(m.interpreter) < 1 {
                return Err(RuntimeError::InvalidTflite(
                    "the model has no output".into(),
                ));
            }
            let t = (api.input_tensor)(m.interpreter, 0);
            if (api.tensor_type)(t) != K_TFLITE_FLOAT32 {
                return Err(RuntimeError::InvalidTflite(
                    "the input is not float32 (quantized models are not supported)".into(),
                ));
            }
            m.input_shape = (0..(api.tensor_num_dims)(t))
                .map(|i| (api.tensor_dim)(t, i).max(0) as usize)
                .collect();
        }
        let input = seeded_input(&m.input_shape, seed);
        // The input is set once: each timed run is the inference alone, as benchmark_model does.
        m.set_input(&input)?;
        m.init_time = start.elapsed();
        Ok(m)
    }

    pub fn from_file(
        path: &Path,
        threads: usize,
        seed: u64,
        delegate: TfliteDelegate,
    ) -> Result<TfliteModel, RuntimeError> {
        let bytes = std::fs::read(path).map_err(|source| RuntimeError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(&bytes, threads, seed, delegate)
    }

    /// Creates the XNNPACK delegate with `threads` threads and adds it to the options, as
    /// `benchmark_model` and LiteRT's interpreter do by default.
    ///
    /// # Safety
    /// `self.options` is live and no interpreter has been created from it yet.
    unsafe fn xnnpack(&self, threads: usize) -> Result<*mut c_void, RuntimeError> {
        let (Some(create), Some(add)) = (self.api.xnnpack_create, self.api.add_delegate) else {
            return Err(RuntimeError::Unsupported(format!(
                "{} has no XNNPACK delegate (TfLiteXNNPackDelegateCreate); time without it with \
                 --tflite-delegate none",
                self.api.path
            )));
        };
        let options = XnnpackOptions {
            num_threads: threads.min(i32::MAX as usize) as i32,
            // Its int8 kernels, signed and unsigned (TFLITE_XNNPACK_DELEGATE_FLAG_QS8 | QU8): on
            // in LiteRT's defaults, off in 2.9's zeroes, where an int8 model would fall back to
            // the built-in kernels whole (measured: the same 4.6 ms as without the delegate).
            flags: 0x1 | 0x2,
            _rest: [0; 30],
        };
        let delegate = without_stderr(|| create(&options));
        if delegate.is_null() {
            return Err(self.failure("create the XNNPACK delegate"));
        }
        add(self.options, delegate);
        Ok(delegate)
    }

    pub fn delegate(&self) -> TfliteDelegate {
        self.delegate_kind
    }

    fn failure(&self, stage: &str) -> RuntimeError {
        let log = self.errors.lock().map(|l| l.join("; ")).unwrap_or_default();
        RuntimeError::Tflite {
            stage: stage.to_string(),
            message: if log.is_empty() {
                "no message".into()
            } else {
                log
            },
        }
    }

    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    fn set_input(&mut self, data: &[f32]) -> Result<(), RuntimeError> {
        let api = self.api;
        // SAFETY: the input tensor exists (checked at load); the copy is checked against its size.
        unsafe {
            let t = (api.input_tensor)(self.interpreter, 0);
            let bytes = std::mem::size_of_val(data);
            if (api.tensor_byte_size)(t) != bytes {
                return Err(RuntimeError::InvalidTflite(format!(
                    "the input takes {} bytes, {bytes} given",
                    (api.tensor_byte_size)(t)
                )));
            }
            if (api.copy_from)(t, data.as_ptr() as *const c_void, bytes) != K_TFLITE_OK {
                return Err(self.failure("set the input"));
            }
        }
        Ok(())
    }

    fn invoke(&mut self) -> Result<(), RuntimeError> {
        // SAFETY: the interpreter is live and its tensors allocated.
        if unsafe { (self.api.invoke)(self.interpreter) } != K_TFLITE_OK {
            return Err(self.failure("run the model"));
        }
        Ok(())
    }

    fn output(&self, i: i32) -> Result<(Vec<usize>, Vec<f32>), RuntimeError> {
        let api = self.api;
        // SAFETY: i is below the output count; the copy is bounded by the tensor's byte size.
        unsafe {
            let t = (api.output_tensor)(self.interpreter, i);
            if t.is_null() || (api.tensor_type)(t) != K_TFLITE_FLOAT32 {
                return Err(RuntimeError::InvalidTflite(format!(
                    "output {i} is not float32"
                )));
            }
            let shape: Vec<usize> = (0..(api.tensor_num_dims)(t))
                .map(|d| (api.tensor_dim)(t, d).max(0) as usize)
                .collect();
            let bytes = (api.tensor_byte_size)(t);
            let mut out = vec![0f32; bytes / 4];
            if (api.copy_to)(t, out.as_mut_ptr() as *mut c_void, out.len() * 4) != K_TFLITE_OK {
                return Err(self.failure("read the output"));
            }
            Ok((shape, out))
        }
    }

    /// Runs one inference; returns the first output's shape and values.
    pub fn run(&mut self) -> Result<(Vec<usize>, Vec<f32>), RuntimeError> {
        self.invoke()?;
        self.output(0)
    }

    /// Runs one inference on `data` (the input's elements, row-major, in the model's layout).
    pub fn run_on(&mut self, data: &[f32]) -> Result<Vec<Vec<f32>>, RuntimeError> {
        self.set_input(data)?;
        self.invoke()?;
        // SAFETY: the interpreter is live.
        let n = unsafe { (self.api.output_count)(self.interpreter) };
        (0..n).map(|i| self.output(i).map(|(_, v)| v)).collect()
    }

    /// Runs one inference and leaves the output: the operation the profiler times.
    pub fn run_discard(&mut self) -> Result<(), RuntimeError> {
        self.invoke()
    }
}
