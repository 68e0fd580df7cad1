//! The standalone emulator out of file descriptors: the accept loop waits instead of spinning a
//! core, and serves again once clients let go. Linux only: it reads `/proc` for CPU time.
#![cfg(target_os = "linux")]

use std::{
    io::{BufRead, BufReader},
    net::TcpStream,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use servicefabric_rest::{Client, RetryPolicy};

/// Kills the emulator when dropped, so a failing assertion does not leave it running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU time (user + system) of a process, in clock ticks (1/100 s on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

#[test]
fn out_of_file_descriptors_the_emulator_waits_then_serves_again() {
    // 40 descriptors: the runtime and the listener take about ten, clients the rest.
    let mut child = Command::new("sh")
        .args([
            "-c",
            "ulimit -n 40 && exec \"$0\" emulator --listen 127.0.0.1:0 --no-seed",
            env!("CARGO_BIN_EXE_sfrest"),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut banner = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut banner)
        .expect("banner");
    let pid = child.id();
    let emulator = Running(child);
    let endpoint = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no endpoint in banner {banner:?}"))
        .to_string();
    let address = endpoint.trim_start_matches("http://").trim_end_matches('/');

    // Far more idle connections than descriptors: the kernel completes them all, the emulator
    // accepts until accept() fails with EMFILE.
    let idle: Vec<TcpStream> = (0..120)
        .map(|_| TcpStream::connect(address).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(500));

    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let spent = cpu_ticks(pid) - before;
    eprintln!("CPU used in 2 s with no descriptor left: {spent} ticks");
    // A spinning accept loop burns about 200 ticks in 2 s; waiting between attempts, a few.
    assert!(
        spent < 40,
        "the emulator used {spent} ticks of CPU in 2 s with no descriptor left: the accept loop spins"
    );

    drop(idle);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = Client::builder(&endpoint)
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("client");
    let started = Instant::now();
    let answer = runtime.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(20),
            client.name_exists("fabric:/after-exhaustion"),
        )
        .await
    });
    assert!(
        matches!(answer, Ok(Ok(false))),
        "no answer once descriptors were free again: {answer:?} after {:?}",
        started.elapsed()
    );
    drop(emulator);
}
