fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(balena_extension_runtime::dispatch::run(args));
}
