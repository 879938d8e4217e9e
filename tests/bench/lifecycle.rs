//! `make bench`: latency and memory of the lifecycle, against a floor.
//!
//! Runs create → state → start → state → delete on a generated bundle N
//! times (`BENCH_N`, default 300; distinct IDs), as containerd's shim does:
//! this process is a child subreaper and reaps each proxy after `start`.
//! Every invocation is a fork + exec + wait4, timed from before the fork to
//! after the wait; wait4's rusage gives its peak RSS. The proxy's RSS is
//! read from /proc/PID/status while it waits between create and start.
//!
//! The floor is measured in the same run, interleaved with the cycles: five
//! spawns per cycle of a static do-nothing Rust program built with the
//! release profile's flags. A lifecycle is five invocations, so its floor is
//! five floor spawns.
//!
//! Runs: state on tmpfs (/dev/shm, as /run is on a device), then on disk
//! (under the target directory, where the fsyncs show), then the scale run
//! (the same cycle with 0, 100 and 1000 other containers in the root, and
//! `state-dump` over those 1000), and with `BENCH_REF=/path/to/runtime` the
//! same cycle with that runtime. Results go to `target/bench.json`.
//!
//! Usage: bench [RUNTIME] (default: dist/balena-extension-runtime). Exit
//! status 1 on an error; budgets are reported, and fail the run only with
//! `BENCH_STRICT=1`.

use std::ffi::{CString, OsStr};
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const STEPS: [&str; 5] = ["create", "state", "start", "state2", "delete"];

/// Budgets of issue 6 (the size ones are `make size`'s).
const LIFECYCLE_VS_FLOOR: f64 = 1.5;
const STATE_VS_FLOOR: f64 = 1.2;
const RSS_KIB: i64 = 1536;
const PROXY_KIB: i64 = 1024;
/// "The per-cycle cost must not grow with the root's size."
const SCALE_GROWTH: f64 = 1.25;

fn main() {
    // SAFETY: prctl with integer arguments only. Proxies orphaned by
    // `create` become our children, as they become the shim's.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let mut b = match Bench::new() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(1);
        }
    };
    let result = b.run();
    b.cleanup();
    match result {
        Ok(failed) if failed && std::env::var_os("BENCH_STRICT").is_some() => std::process::exit(1),
        Ok(_) => {}
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(1);
        }
    }
}

type Res<T> = Result<T, String>;

/// One finished invocation.
#[derive(Clone, Copy)]
struct Run {
    wall: Duration,
    maxrss_kib: i64,
    status: i32,
}

/// Wall times (µs) and peak RSS (KiB) of one kind of invocation.
#[derive(Default)]
struct Series {
    micros: Vec<f64>,
    rss: Vec<i64>,
}

impl Series {
    fn push(&mut self, r: Run) {
        self.micros.push(r.wall.as_secs_f64() * 1e6);
        self.rss.push(r.maxrss_kib);
    }
    fn quantile(&self, q: f64) -> f64 {
        let mut v = self.micros.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        if v.is_empty() {
            return 0.0;
        }
        v[((v.len() as f64 * q) as usize).min(v.len() - 1)]
    }
    fn median(&self) -> f64 {
        self.quantile(0.5)
    }
    fn p90(&self) -> f64 {
        self.quantile(0.9)
    }
    fn max_rss(&self) -> i64 {
        self.rss.iter().copied().max().unwrap_or(0)
    }
    fn json(&self) -> String {
        format!(
            "{{\"n\":{},\"median_us\":{:.1},\"p90_us\":{:.1},\"max_rss_kib\":{}}}",
            self.micros.len(),
            self.median(),
            self.p90(),
            self.max_rss()
        )
    }
}

/// The results of N lifecycles with one runtime and one state root.
#[derive(Default)]
struct Cycles {
    steps: [Series; 5],
    cycle: Series,
    floor: Series,
    floor_cycle: Series,
    proxy_hwm: Vec<i64>,
    proxy_rss: Vec<i64>,
}

impl Cycles {
    fn max_rss(&self) -> i64 {
        self.steps.iter().map(Series::max_rss).max().unwrap_or(0)
    }
    fn print(&self, title: &str) {
        println!("\n== {title}");
        println!(
            "{:<10} {:>10} {:>10} {:>12}",
            "step", "median µs", "p90 µs", "max RSS KiB"
        );
        let mut rows: Vec<(&str, &Series)> = STEPS.iter().copied().zip(self.steps.iter()).collect();
        rows.push(("cycle", &self.cycle));
        if !self.floor.micros.is_empty() {
            rows.push(("floor", &self.floor));
            rows.push(("floor×5", &self.floor_cycle));
        }
        for (name, s) in rows {
            println!(
                "{:<10} {:>10.0} {:>10.0} {:>12}",
                name,
                s.median(),
                s.p90(),
                s.max_rss()
            );
        }
        if let (Some(hwm), Some(rss)) = (self.proxy_hwm.iter().max(), self.proxy_rss.iter().max()) {
            println!("waiting proxy: VmHWM ≤ {hwm} KiB, VmRSS ≤ {rss} KiB");
        }
    }
    fn json(&self) -> String {
        let mut out = String::from("{");
        for (name, s) in STEPS.iter().zip(self.steps.iter()) {
            out += &format!("\"{name}\":{},", s.json());
        }
        out += &format!("\"cycle\":{}", self.cycle.json());
        if !self.floor.micros.is_empty() {
            out += &format!(
                ",\"floor\":{},\"floor_cycle\":{}",
                self.floor.json(),
                self.floor_cycle.json()
            );
        }
        out += &format!(
            ",\"proxy_vmhwm_kib_max\":{},\"proxy_vmrss_kib_max\":{}}}",
            self.proxy_hwm.iter().max().unwrap_or(&0),
            self.proxy_rss.iter().max().unwrap_or(&0)
        );
        out
    }
}

/// A runtime under test, with one state root.
struct Target {
    bin: PathBuf,
    root: PathBuf,
    log: PathBuf,
    pids: PathBuf,
}

struct Bench {
    n: usize,
    runtime: PathBuf,
    floor: PathBuf,
    target_dir: PathBuf,
    bundle: PathBuf,
    /// Directories to remove at the end.
    dirs: Vec<PathBuf>,
    /// Containers that exist right now, for cleanup: (runtime, root, id, proxy).
    live: Vec<(PathBuf, PathBuf, String, i32)>,
    env: Vec<CString>,
    devnull: i32,
    serial: usize,
}

impl Bench {
    fn new() -> Res<Bench> {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| manifest.join("target"));
        let runtime = std::env::args_os()
            .skip(1)
            .find(|a| !a.as_bytes().starts_with(b"-"))
            .map(PathBuf::from)
            .unwrap_or_else(|| manifest.join("dist/balena-extension-runtime"));
        if !runtime.exists() {
            return Err(format!(
                "{} not found (run `make build`)",
                runtime.display()
            ));
        }
        let n = match std::env::var("BENCH_N") {
            Ok(v) => v
                .parse()
                .map_err(|_| format!("BENCH_N={v}: not a number"))?,
            Err(_) => 300,
        };
        // SAFETY: open with a constant path; the descriptor is ours.
        let devnull = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if devnull < 0 {
            return Err("cannot open /dev/null".into());
        }
        let env = std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k.into_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                CString::new(kv).unwrap_or_default()
            })
            .collect();
        let b = Bench {
            n,
            runtime: fs::canonicalize(&runtime)
                .map_err(|e| format!("{}: {e}", runtime.display()))?,
            floor: target_dir.join("bench/floor"),
            target_dir,
            bundle: PathBuf::new(),
            dirs: Vec::new(),
            live: Vec::new(),
            env,
            devnull,
            serial: 0,
        };
        b.build_floor()?;
        Ok(b)
    }

    /// A static `fn main() {}` built with the release profile's flags.
    fn build_floor(&self) -> Res<()> {
        let dir = self.floor.parent().unwrap();
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let src = dir.join("floor.rs");
        fs::write(&src, "fn main() {}\n").map_err(|e| format!("{}: {e}", src.display()))?;
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let host = Command::new(&rustc)
            .arg("-vV")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("host: ").map(String::from))
            })
            .ok_or("cannot ask rustc for the host target")?;
        let flags = "--edition 2021 -C opt-level=z -C lto=fat -C codegen-units=1 -C panic=abort \
                     -C strip=symbols -C target-feature=+crt-static -C relocation-model=static \
                     -C link-arg=-Wl,--icf=all";
        let ok = Command::new(&rustc)
            .args(flags.split_whitespace())
            .arg("--target")
            .arg(&host)
            .arg("-o")
            .arg(&self.floor)
            .arg(&src)
            .status()
            .map_err(|e| format!("rustc: {e}"))?
            .success();
        if !ok {
            return Err("cannot build the floor program".into());
        }
        Ok(())
    }

    /// fork + execve + wait4, with stdio on /dev/null.
    fn spawn(&self, program: &Path, args: &[&OsStr]) -> Res<Run> {
        let prog = cstring(program.as_os_str());
        let argv: Vec<CString> = std::iter::once(program.as_os_str())
            .chain(args.iter().copied())
            .map(cstring)
            .collect();
        let mut argp: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argp.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = self.env.iter().map(|a| a.as_ptr()).collect();
        envp.push(std::ptr::null());
        let start = Instant::now();
        // SAFETY: single-threaded; the child only calls dup2, execve and
        // _exit on memory prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: {}", std::io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: see above; never returns.
            unsafe {
                for fd in 0..3 {
                    libc::dup2(self.devnull, fd);
                }
                libc::execve(prog.as_ptr(), argp.as_ptr(), envp.as_ptr());
                libc::_exit(127);
            }
        }
        let mut status = 0;
        // SAFETY: rusage is plain data, written by wait4 before it is read.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: valid out-pointers; pid is our child.
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
            if r == pid {
                break;
            }
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return Err(format!("wait4: {}", std::io::Error::last_os_error()));
            }
        }
        let wall = start.elapsed();
        let status = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        };
        Ok(Run {
            wall,
            maxrss_kib: ru.ru_maxrss,
            status,
        })
    }

    fn runtime(&self, t: &Target, args: &[&OsStr]) -> Res<Run> {
        let mut all: Vec<&OsStr> = vec![
            OsStr::new("--root"),
            t.root.as_os_str(),
            OsStr::new("--log"),
            t.log.as_os_str(),
            OsStr::new("--log-format"),
            OsStr::new("json"),
        ];
        all.extend_from_slice(args);
        self.spawn(&t.bin, &all)
    }

    fn checked(&self, t: &Target, args: &[&OsStr]) -> Res<Run> {
        let r = self.runtime(t, args)?;
        if r.status != 0 {
            let args: Vec<String> = args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let log = fs::read_to_string(&t.log).unwrap_or_default();
            let last = log.lines().last().unwrap_or("");
            return Err(format!(
                "`{}` exited {} (log: {last})",
                args.join(" "),
                r.status
            ));
        }
        Ok(r)
    }

    /// A work directory with the bundle, the state root and the log.
    fn target(&mut self, bin: &Path, base: &Path, tag: &str) -> Res<Target> {
        let dir = base.join(format!("ber-bench-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("pids")).map_err(|e| format!("{}: {e}", dir.display()))?;
        self.dirs.push(dir.clone());
        Ok(Target {
            bin: bin.to_path_buf(),
            root: dir.join("state"),
            log: dir.join("log.json"),
            pids: dir.join("pids"),
        })
    }

    fn create(&mut self, t: &Target, id: &str) -> Res<(Run, i32)> {
        let pid_file = t.pids.join(id);
        let r = self.checked(
            t,
            &[
                OsStr::new("create"),
                OsStr::new("--bundle"),
                self.bundle.as_os_str(),
                OsStr::new("--pid-file"),
                pid_file.as_os_str(),
                OsStr::new(id),
            ],
        )?;
        let pid = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| format!("create {id}: no pid file"))?;
        let _ = fs::remove_file(&pid_file);
        self.live
            .push((t.bin.clone(), t.root.clone(), id.to_string(), pid));
        Ok((r, pid))
    }

    fn forget(&mut self, id: &str) {
        self.live.retain(|(_, _, i, _)| i != id);
    }

    /// N lifecycles; with `floor`, five floor spawns after each.
    fn cycles(&mut self, t: &Target, n: usize, floor: bool) -> Res<Cycles> {
        let mut c = Cycles::default();
        for _ in 0..n {
            self.serial += 1;
            let id = format!("bench-{}-{}", std::process::id(), self.serial);
            let idos = OsStr::new(&id);
            let mut runs = [None; 5];
            let (r, proxy) = self.create(t, &id)?;
            runs[0] = Some(r);
            if let Some((hwm, rss)) = proxy_memory(proxy) {
                c.proxy_hwm.push(hwm);
                c.proxy_rss.push(rss);
            }
            runs[1] = Some(self.checked(t, &[OsStr::new("state"), idos])?);
            runs[2] = Some(self.checked(t, &[OsStr::new("start"), idos])?);
            // The shim learns that the container stopped by reaping the proxy.
            reap(proxy);
            runs[3] = Some(self.checked(t, &[OsStr::new("state"), idos])?);
            runs[4] = Some(self.checked(t, &[OsStr::new("delete"), idos])?);
            self.forget(&id);
            let mut total = Duration::ZERO;
            for (s, r) in c.steps.iter_mut().zip(runs.iter().flatten()) {
                s.push(*r);
                total += r.wall;
            }
            c.cycle.push(Run {
                wall: total,
                maxrss_kib: 0,
                status: 0,
            });
            if floor {
                let mut total = Duration::ZERO;
                for _ in 0..5 {
                    let r = self.spawn(&self.floor, &[])?;
                    total += r.wall;
                    c.floor.push(r);
                }
                c.floor_cycle.push(Run {
                    wall: total,
                    maxrss_kib: 0,
                    status: 0,
                });
            }
        }
        Ok(c)
    }

    fn run(&mut self) -> Res<bool> {
        println!(
            "bench: {} lifecycles, runtime {}, {} cores",
            self.n,
            self.runtime.display(),
            nproc()
        );
        let shm = Path::new("/dev/shm");
        let tmpfs = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let runtime = self.runtime.clone();

        // The bundle: config.json with the class annotation, an empty rootfs.
        let t = self.target(&runtime, &tmpfs, "tmpfs")?;
        self.bundle = t.root.with_file_name("bundle");
        fs::create_dir_all(self.bundle.join("rootfs")).map_err(|e| e.to_string())?;
        fs::write(
            self.bundle.join("config.json"),
            "{\"ociVersion\":\"1.0.2-dev\",\"root\":{\"path\":\"rootfs\"},\
             \"annotations\":{\"io.balena.image.class\":\"overlay\"},\
             \"mounts\":[{\"destination\":\"/data\",\"source\":\"/var/data\",\"type\":\"bind\"}]}",
        )
        .map_err(|e| e.to_string())?;

        let main = self.cycles(&t, self.n, true)?;
        main.print(&format!("lifecycle, state on tmpfs ({})", tmpfs.display()));

        let disk_base = self.target_dir.clone();
        let d = self.target(&runtime, &disk_base, "disk")?;
        let disk = self.cycles(&d, self.n, false)?;
        disk.print(&format!(
            "lifecycle, state on disk ({})",
            disk_base.display()
        ));

        // Scale: the same cycle with 0, 100 and 1000 others in the root.
        let s = self.target(&runtime, &tmpfs, "scale")?;
        let mut scale = Vec::new();
        let mut others = 0;
        for level in [0, 100, 1000] {
            while others < level {
                others += 1;
                self.create(&s, &format!("other-{others}"))?;
            }
            let c = self.cycles(&s, self.n, false)?;
            println!(
                "\n== scale: {level:>4} others: cycle median {:.0} µs, p90 {:.0} µs, max RSS {} KiB",
                c.cycle.median(),
                c.cycle.p90(),
                c.max_rss()
            );
            scale.push((level, c));
        }
        let mut dump = Series::default();
        let dump_n = self.n.clamp(1, 30);
        for _ in 0..dump_n {
            let r = self.spawn(
                &runtime.with_file_name("state-dump"),
                &[OsStr::new("--root"), s.root.as_os_str()],
            )?;
            if r.status != 0 {
                return Err(format!(
                    "state-dump over {others} entries exited {}",
                    r.status
                ));
            }
            dump.push(r);
        }
        println!(
            "state-dump over {others} entries: median {:.0} µs, p90 {:.0} µs, max RSS {} KiB",
            dump.median(),
            dump.p90(),
            dump.max_rss()
        );
        self.delete_all()?;

        let reference = match std::env::var_os("BENCH_REF") {
            Some(r) if !r.is_empty() => {
                let bin = fs::canonicalize(&r)
                    .map_err(|e| format!("BENCH_REF {}: {e}", r.to_string_lossy()))?;
                let rt = self.target(&bin, &tmpfs, "ref")?;
                let c = self.cycles(&rt, self.n, false)?;
                c.print(&format!(
                    "reference runtime {}, state on tmpfs",
                    bin.display()
                ));
                Some((bin, c))
            }
            _ => None,
        };

        // Ratios and budgets.
        let floor = main.floor.median();
        let floor5 = 5.0 * floor;
        let state = {
            let mut s = Series::default();
            for st in [&main.steps[1], &main.steps[3]] {
                s.micros.extend_from_slice(&st.micros);
            }
            s.median()
        };
        let lifecycle_ratio = main.cycle.median() / floor5;
        let state_ratio = state / floor;
        let max_rss = [main.max_rss(), disk.max_rss()]
            .into_iter()
            .chain(scale.iter().map(|(_, c)| c.max_rss()))
            .max()
            .unwrap_or(0);
        // What a waiting proxy holds is its resident set while it waits.
        // Its VmHWM also counts the start-up peak (exec maps much of the
        // binary, shared page cache), which the proxy gives back before
        // it waits; that peak is reported above, not budgeted.
        let proxy = [&main, &disk]
            .iter()
            .flat_map(|c| c.proxy_rss.iter())
            .copied()
            .max()
            .unwrap_or(0);
        let growth = scale[2].1.cycle.median() / scale[0].1.cycle.median();
        println!("\n== ratios (floor: one spawn of a static do-nothing Rust binary, median {floor:.0} µs, max RSS {} KiB)", main.floor.max_rss());
        println!(
            "lifecycle median / (5 × floor) = {:.0} / {:.0} = {lifecycle_ratio:.2}",
            main.cycle.median(),
            floor5
        );
        println!("state median / floor           = {state:.0} / {floor:.0} = {state_ratio:.2}");
        if let Some((_, r)) = &reference {
            println!(
                "reference lifecycle median / ours = {:.0} / {:.0} = {:.2}",
                r.cycle.median(),
                main.cycle.median(),
                r.cycle.median() / main.cycle.median()
            );
            println!(
                "reference lifecycle median / (5 × floor) = {:.2}",
                r.cycle.median() / floor5
            );
        }
        println!("\n== budgets");
        let mut failed = false;
        let mut budget = |ok: bool, what: String| {
            failed |= !ok;
            println!("{}  {what}", if ok { "PASS" } else { "FAIL" });
        };
        budget(
            lifecycle_ratio <= LIFECYCLE_VS_FLOOR,
            format!("lifecycle median (tmpfs) {lifecycle_ratio:.2} × floor ≤ {LIFECYCLE_VS_FLOOR}"),
        );
        budget(
            state_ratio <= STATE_VS_FLOOR,
            format!("state median {state_ratio:.2} × floor spawn ≤ {STATE_VS_FLOOR}"),
        );
        budget(
            max_rss <= RSS_KIB,
            format!("peak RSS of any lifecycle invocation {max_rss} KiB ≤ {RSS_KIB} KiB"),
        );
        budget(
            dump.max_rss() <= RSS_KIB,
            format!(
                "peak RSS of state-dump over {others} entries {} KiB ≤ {RSS_KIB} KiB",
                dump.max_rss()
            ),
        );
        budget(
            proxy <= PROXY_KIB,
            format!("waiting proxy VmRSS {proxy} KiB ≤ {PROXY_KIB} KiB"),
        );
        budget(
            growth <= SCALE_GROWTH,
            format!("cycle with 1000 others / with none {growth:.2} ≤ {SCALE_GROWTH}"),
        );

        let mut json = format!(
            "{{\"n\":{},\"nproc\":{},\"runtime\":\"{}\",\"tmpfs\":{},\"disk\":{},\"scale\":{{",
            self.n,
            nproc(),
            self.runtime.display(),
            main.json(),
            disk.json()
        );
        let levels: Vec<String> = scale
            .iter()
            .map(|(l, c)| format!("\"{l}\":{}", c.json()))
            .collect();
        json += &levels.join(",");
        json += &format!("}},\"state_dump_{others}\":{}", dump.json());
        if let Some((bin, r)) = &reference {
            json += &format!(
                ",\"reference\":{{\"runtime\":\"{}\",\"tmpfs\":{}}}",
                bin.display(),
                r.json()
            );
        }
        json += &format!(
            ",\"ratios\":{{\"lifecycle_vs_5_floor\":{lifecycle_ratio:.3},\"state_vs_floor\":{state_ratio:.3},\"scale_1000_vs_0\":{growth:.3}}},\
             \"max_rss_kib\":{max_rss},\"proxy_vmhwm_kib\":{proxy},\"budgets_pass\":{}}}\n",
            !failed
        );
        let out = self.target_dir.join("bench.json");
        fs::write(&out, json).map_err(|e| format!("{}: {e}", out.display()))?;
        println!("\nresults: {}", out.display());
        Ok(failed)
    }

    /// `delete --force` every container still alive, reaping its proxy.
    fn delete_all(&mut self) -> Res<()> {
        let mut first_error = None;
        for (bin, root, id, proxy) in std::mem::take(&mut self.live) {
            let t = Target {
                bin,
                log: root.with_file_name("log.json"),
                pids: root.with_file_name("pids"),
                root,
            };
            let r = self.runtime(
                &t,
                &[OsStr::new("delete"), OsStr::new("--force"), OsStr::new(&id)],
            );
            match r {
                Ok(r) if r.status == 0 => {}
                Ok(r) => {
                    first_error.get_or_insert(format!("delete --force {id} exited {}", r.status));
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
            reap(proxy);
        }
        first_error.map_or(Ok(()), Err)
    }

    fn cleanup(&mut self) {
        if let Err(e) = self.delete_all() {
            eprintln!("bench: cleanup: {e}");
        }
        // Anything else orphaned to us (there should be nothing).
        // SAFETY: waitpid with WNOHANG and a null status pointer.
        while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
        for d in self.dirs.drain(..) {
            let _ = fs::remove_dir_all(&d);
        }
    }
}

fn cstring(s: &OsStr) -> CString {
    CString::new(s.as_bytes()).unwrap_or_default()
}

/// Waits for our (adopted) child `pid`; a proxy that was already reaped, or
/// is not ours, is skipped.
fn reap(pid: i32) {
    if pid <= 0 {
        return;
    }
    let mut status = 0;
    // SAFETY: valid out-pointer.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

/// VmHWM and VmRSS (KiB) of a process once it sleeps (the proxy waiting
/// for its start signal), or None if it does not settle within a second.
fn proxy_memory(pid: i32) -> Option<(i64, i64)> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let state = stat[stat.rfind(')')? + 1..]
            .split_whitespace()
            .next()?
            .to_string();
        if state == "S" {
            break;
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<i64> {
        status.lines().find_map(|l| {
            l.strip_prefix(name)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

fn nproc() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
