//! Engine symbols that ext-php-rs does not bind, looked up with `dlsym` at module start.
//! Declaring them in an `extern "C"` block would also work under PHP, but would break
//! `cargo php stubs`, which loads the library outside PHP.

use std::ffi::{CStr, c_char, c_int};
use std::sync::OnceLock;

use ext_php_rs::types::{ZendHashTable, Zval};
use ext_php_rs::zend::ClassEntry;

pub type PostStartup = Option<unsafe extern "C" fn() -> c_int>;
type IniStringEx = unsafe extern "C" fn(*const c_char, usize, c_int, *mut bool) -> *mut c_char;
type RegisterClassAliasEx =
    unsafe extern "C" fn(*const c_char, usize, *mut ClassEntry, bool) -> c_int;
type GetPropertiesFor = unsafe extern "C" fn(*mut Zval, c_int) -> *mut ZendHashTable;
type Sigaction = unsafe extern "C" fn(c_int, *const libc::sigaction, *mut libc::sigaction);

/// `ZEND_PROP_PURPOSE_JSON` of `zend_prop_purpose`.
pub const PROP_PURPOSE_JSON: c_int = 4;

pub struct Symbols {
    /// `char *zend_ini_string_ex(const char *name, size_t len, int orig, bool *exists)`
    pub zend_ini_string_ex:
        unsafe extern "C" fn(*const c_char, usize, c_int, *mut bool) -> *mut c_char,
    /// `zend_result zend_register_class_alias_ex(const char *, size_t, zend_class_entry *, bool)`
    pub zend_register_class_alias_ex:
        unsafe extern "C" fn(*const c_char, usize, *mut ClassEntry, bool) -> c_int,
    /// `HashTable *zend_get_properties_for(zval *obj, zend_prop_purpose purpose)`: the
    /// properties `json_encode` sees (an `ArrayObject`'s storage, for one).
    pub zend_get_properties_for: GetPropertiesFor,
    /// `zend_result (*zend_post_startup_cb)(void)`, a data symbol.
    pub zend_post_startup_cb: *mut PostStartup,
    /// `zend_class_entry *spl_ce_RuntimeException`, a data symbol.
    pub spl_ce_runtime_exception: *mut *mut ClassEntry,
    /// `void zend_sigaction(int, const struct sigaction *, struct sigaction *)`, in a PHP built
    /// with Zend signal handling (the default): PHP's own table of signal handlers, which pcntl
    /// also goes through. `None` without it; `sigaction(2)` is then the table.
    pub zend_sigaction: Option<Sigaction>,
}

// SAFETY: pointers into the PHP binary, fixed for the life of the process.
unsafe impl Send for Symbols {}
unsafe impl Sync for Symbols {}

static SYMBOLS: OnceLock<Symbols> = OnceLock::new();

fn lookup(name: &CStr) -> Result<*mut libc::c_void, String> {
    // SAFETY: dlsym with a NUL-terminated name.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    if p.is_null() {
        Err(format!("PHP symbol {} not found", name.to_string_lossy()))
    } else {
        Ok(p)
    }
}

/// Resolves the symbols; call first thing at module start.
pub fn init() -> Result<&'static Symbols, String> {
    if let Some(symbols) = SYMBOLS.get() {
        return Ok(symbols);
    }
    // SAFETY: each symbol has the C signature given in `Symbols` in PHP 8.x.
    let symbols = unsafe {
        Symbols {
            zend_ini_string_ex: std::mem::transmute::<*mut libc::c_void, IniStringEx>(lookup(
                c"zend_ini_string_ex",
            )?),
            zend_register_class_alias_ex: std::mem::transmute::<
                *mut libc::c_void,
                RegisterClassAliasEx,
            >(lookup(c"zend_register_class_alias_ex")?),
            zend_get_properties_for: std::mem::transmute::<*mut libc::c_void, GetPropertiesFor>(
                lookup(c"zend_get_properties_for")?,
            ),
            zend_post_startup_cb: lookup(c"zend_post_startup_cb")?.cast(),
            spl_ce_runtime_exception: lookup(c"spl_ce_RuntimeException")?.cast(),
            zend_sigaction: lookup(c"zend_sigaction")
                .ok()
                .map(|p| std::mem::transmute::<*mut libc::c_void, Sigaction>(p)),
        }
    };
    Ok(SYMBOLS.get_or_init(|| symbols))
}

/// The symbols, once `init` succeeded (it runs at module start, before any PHP code).
pub fn get() -> Option<&'static Symbols> {
    SYMBOLS.get()
}
