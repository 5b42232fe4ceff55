//! Fan-out over a fleet: at most `jobs` boards at a time, every board gets its turn whatever
//! the others do, results in the hosts' order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::Host;

pub fn fan_out<T, F>(hosts: &[Host], jobs: usize, work: F) -> Vec<T>
where
    T: Send,
    F: Fn(&Host) -> T + Sync,
{
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new(hosts.iter().map(|_| None).collect());
    let workers = jobs.clamp(1, hosts.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(host) = hosts.get(i) else { break };
                let r = work(host);
                results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.expect("every host was worked on"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[test]
    fn bounded_and_in_order() {
        let hosts: Vec<Host> = (0..9)
            .map(|i| Host::parse(&format!("h{i}")).unwrap())
            .collect();
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let out = fan_out(&hosts, 3, |h| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(30));
            running.fetch_sub(1, Ordering::SeqCst);
            if h.name == "h4" {
                Err(format!("{} down", h.name))
            } else {
                Ok(h.name.clone())
            }
        });
        assert_eq!(peak.load(Ordering::SeqCst), 3);
        assert_eq!(out.len(), 9);
        assert_eq!(out[4], Err("h4 down".to_string()));
        assert_eq!(out[8], Ok("h8".to_string()));
    }
}
