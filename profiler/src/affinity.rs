//! Pinning the measuring thread (and the inference threads it spawns afterwards, which
//! inherit the mask) to a set of CPUs.

use crate::ProfilerError;

/// Parses a `--cpus` list (`0-3`, `4,5,6,7`, `2`).
pub fn parse(list: &str) -> Result<Vec<usize>, ProfilerError> {
    match crate::probe::parse_cpu_list(list) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ProfilerError::BadCpuList(list.to_string())),
    }
}

/// Pins the calling thread to `cpus`. Threads created later by this thread inherit the mask,
/// so call it before the runtime starts its pool.
#[cfg(target_os = "linux")]
pub fn pin_current_thread(cpus: &[usize]) -> Result<(), ProfilerError> {
    let err = |reason: String| ProfilerError::Affinity {
        cpus: cpus.to_vec(),
        reason,
    };
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET only write inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for &c in cpus {
            if c >= libc::CPU_SETSIZE as usize {
                return Err(err(format!(
                    "CPU {c} is beyond the supported {}",
                    libc::CPU_SETSIZE
                )));
            }
            libc::CPU_SET(c, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(err(std::io::Error::last_os_error().to_string()));
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn pin_current_thread(cpus: &[usize]) -> Result<(), ProfilerError> {
    Err(ProfilerError::Affinity {
        cpus: cpus.to_vec(),
        reason: "CPU affinity is only supported on Linux".into(),
    })
}

/// The CPUs the calling thread may run on.
#[cfg(target_os = "linux")]
pub fn current() -> Vec<usize> {
    // SAFETY: as above; sched_getaffinity fills the set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

#[cfg(not(target_os = "linux"))]
pub fn current() -> Vec<usize> {
    Vec::new()
}

/// A CPU list such as `0-3,6`.
pub fn cpu_list(cpus: &[usize]) -> String {
    if cpus.is_empty() {
        return "any".into();
    }
    let mut parts = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            cpus[i].to_string()
        } else {
            format!("{}-{}", cpus[i], cpus[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_compress_ranges() {
        assert_eq!(cpu_list(&[0, 1, 2, 3, 6]), "0-3,6");
        assert_eq!(cpu_list(&[]), "any");
        assert_eq!(cpu_list(&[4]), "4");
    }

    #[test]
    fn pinning_changes_the_mask_of_the_thread_and_its_children() {
        let all = current();
        assert!(!all.is_empty());
        let first = all[0];
        std::thread::spawn(move || {
            pin_current_thread(&[first]).unwrap();
            assert_eq!(current(), vec![first]);
            let child = std::thread::spawn(current).join().unwrap();
            assert_eq!(child, vec![first]);
        })
        .join()
        .unwrap();
        assert!(parse("3-1").is_err());
        assert_eq!(parse("0,2").unwrap(), vec![0, 2]);
    }
}
