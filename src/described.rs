//! Describing a statistic once, where it is counted: its memcached
//! `stats` name, whether it only rises (a counter) or moves both ways (a
//! gauge), and what it means; and [`described!`](crate::described!), which
//! declares a struct of such figures with their descriptions. A leaf: the
//! store, the metrics and the engine all use it, and it imports nothing.

/// How a statistic moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only rises (until `stats reset`).
    Counter,
    /// Rises and falls.
    Gauge,
    /// A fact about the server (a version, a setting), not a measurement.
    Info,
}

/// What one statistic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// memcached's `stats` name.
    pub name: &'static str,
    /// How it moves.
    pub kind: Kind,
    /// What it means, in one line.
    pub help: &'static str,
}

/// Declares a struct of `u64` statistics, each field with its kind and
/// description, and `METRICS` (the descriptions, in field order) and
/// `readings()` (each description with its value).
#[macro_export]
macro_rules! described {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($field:ident: $kind:ident $help:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
        $vis struct $name {
            $(
                #[doc = $help]
                pub $field: u64,
            )*
        }

        impl $name {
            /// What each field is, in field order.
            pub const METRICS: &'static [$crate::described::Metric] = &[
                $($crate::described::Metric {
                    name: stringify!($field),
                    kind: $crate::described::Kind::$kind,
                    help: $help,
                },)*
            ];

            /// Each field's description with its value.
            pub fn readings(&self) -> impl Iterator<Item = (&'static $crate::described::Metric, u64)> {
                Self::METRICS.iter().zip([$(self.$field),*])
            }
        }
    };
}
