//! ISO weekdays (1 = Monday) as windows, schedules and freezes store them,
//! in words.

const NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// "Mon, Wed, Fri", or "every day" for none. (Elements of a PostgreSQL
/// array are nullable; none is null, and a day out of range is left out.)
pub fn days_text(days: &[Option<i16>]) -> String {
    let names: Vec<&str> = days
        .iter()
        .flatten()
        .filter_map(|d| NAMES.get(usize::try_from(*d).ok()?.checked_sub(1)?))
        .copied()
        .collect();
    if names.is_empty() {
        "every day".to_owned()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_read_as_names_in_order_given_and_none_as_every_day() {
        assert_eq!(days_text(&[Some(1), Some(3), Some(5)]), "Mon, Wed, Fri");
        assert_eq!(days_text(&[Some(7)]), "Sun");
        assert_eq!(days_text(&[]), "every day");
        assert_eq!(days_text(&[Some(0), Some(8), None]), "every day");
    }
}
