//! NATS-Bench's test accuracy of every NB201 cell, compiled into the binary in a compact form
//! (`data/nb201_accuracy.bin`, written by `data/make_accuracy.py` from the public table: three
//! u16 per cell, accuracy × 100, in the space's ordinal order).

use edgenas_nas::Nb201Arch;

static DATA: &[u8] = include_bytes!("../data/nb201_accuracy.bin");
const HEADER: usize = 12;

/// The datasets NATS-Bench reports (200-epoch, seed-averaged test accuracy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataset {
    Cifar10,
    Cifar100,
    ImageNet16,
}

impl Dataset {
    pub const ALL: [Dataset; 3] = [Dataset::Cifar10, Dataset::Cifar100, Dataset::ImageNet16];

    pub fn name(self) -> &'static str {
        match self {
            Dataset::Cifar10 => "cifar10",
            Dataset::Cifar100 => "cifar100",
            Dataset::ImageNet16 => "imagenet16",
        }
    }

    pub fn from_name(s: &str) -> Option<Dataset> {
        Dataset::ALL
            .into_iter()
            .find(|d| d.name() == s || (s == "imagenet16-120" && *d == Dataset::ImageNet16))
    }

    /// The dataset `--dataset` names, or which ones there are.
    pub fn parse(s: &str) -> Result<Dataset, crate::LoopError> {
        Dataset::from_name(s).ok_or_else(|| {
            crate::LoopError::Invalid(format!(
                "unknown dataset '{s}' (known: cifar10, cifar100, imagenet16)"
            ))
        })
    }

    fn column(self) -> usize {
        self as usize
    }
}

/// Test accuracy (%) of `arch` on `dataset`.
pub fn nb201_accuracy(arch: &Nb201Arch, dataset: Dataset) -> f64 {
    debug_assert_eq!(&DATA[..8], b"NB201ACC");
    let at = HEADER + (arch.ordinal() * 3 + dataset.column()) * 2;
    u16::from_le_bytes([DATA[at], DATA[at + 1]]) as f64 / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_whole_and_sane() {
        assert_eq!(&DATA[..8], b"NB201ACC");
        assert_eq!(DATA.len(), HEADER + Nb201Arch::COUNT * 3 * 2);
        // The best CIFAR-10 cell of NATS-Bench is at 94.37 %; the all-none cell learns nothing.
        let all = Nb201Arch::all();
        let best = all
            .iter()
            .map(|a| nb201_accuracy(a, Dataset::Cifar10))
            .fold(0.0, f64::max);
        assert!((94.0..95.0).contains(&best), "{best}");
        let none = Nb201Arch::uniform(edgenas_nas::Nb201Op::None);
        assert!(nb201_accuracy(&none, Dataset::Cifar10) < 15.0);
    }
}
