//! Pure: a firmware's use of its profile's `size_budget`. Flash is `text` +
//! `data` (what the image stores), RAM is `data` + `bss` (what it takes at
//! start). The projector fails a queue's verdict with [`over_budget`]'s
//! words; the dashboard shows the same percentages.

use crate::{FirmwareSize, SizeBudget};

/// `used` as a whole percentage of `budget`, rounded up, so a budget
/// exceeded by one byte never reads "100 %". `None` without a budget.
pub fn percent_of(used: u64, budget: Option<u64>) -> Option<u64> {
    let budget = budget.filter(|b| *b > 0)?;
    Some((u128::from(used) * 100).div_ceil(u128::from(budget)) as u64)
}

/// Why a firmware is over its budget ("flash 103 % of budget", both parts
/// joined by ", " when both are over); `None` when it fits.
pub fn over_budget(size: &FirmwareSize, budget: &SizeBudget) -> Option<String> {
    let parts: Vec<String> = [
        ("flash", size.flash(), budget.flash_bytes),
        ("ram", size.ram(), budget.ram_bytes),
    ]
    .into_iter()
    .filter(|(_, used, most)| most.is_some_and(|most| *used > most))
    .filter_map(|(what, used, most)| {
        percent_of(used, most).map(|p| format!("{what} {p} % of budget"))
    })
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: FirmwareSize = FirmwareSize {
        text: 1000,
        data: 30,
        bss: 70,
    };

    #[test]
    fn flash_is_text_and_data_ram_is_data_and_bss() {
        assert_eq!((SIZE.flash(), SIZE.ram()), (1030, 100));
    }

    #[test]
    fn a_budget_exceeded_says_by_how_much_rounded_up() {
        let flash = SizeBudget {
            flash_bytes: Some(1000),
            ram_bytes: Some(200),
        };
        assert_eq!(
            over_budget(&SIZE, &flash).as_deref(),
            Some("flash 103 % of budget")
        );
        let both = SizeBudget {
            flash_bytes: Some(1029),
            ram_bytes: Some(99),
        };
        assert_eq!(
            over_budget(&SIZE, &both).as_deref(),
            Some("flash 101 % of budget, ram 102 % of budget")
        );
        assert_eq!(
            percent_of(1001, Some(1000)),
            Some(101),
            "never 100 % when over"
        );
    }

    #[test]
    fn a_firmware_at_or_under_its_budget_or_without_one_fits() {
        let exact = SizeBudget {
            flash_bytes: Some(1030),
            ram_bytes: Some(100),
        };
        assert_eq!(over_budget(&SIZE, &exact), None);
        assert_eq!(over_budget(&SIZE, &SizeBudget::default()), None);
        assert_eq!(percent_of(50, None), None);
        assert_eq!(percent_of(50, Some(0)), None);
        assert_eq!(percent_of(515, Some(1030)), Some(50));
    }
}
