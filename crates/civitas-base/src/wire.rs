//! `wire_enum!`: a closed set of names that crosses a boundary (the bus, the
//! store's text columns, the API, MQTT), defined once: each variant with its
//! wire name. It gives the enum serde under those names, `ALL`, `name()`,
//! `parse()` (whose refusal lists what is accepted), `Display` and
//! comparison with a wire name.
//!
//! ```
//! civitas_base::wire_enum! {
//!     /// What a light shows.
//!     pub enum Light ("light") { Red = "red", Amber = "amber", Green = "green" }
//! }
//! assert_eq!(Light::parse("amber").unwrap(), Light::Amber);
//! assert_eq!(Light::Green.to_string(), "green");
//! assert_eq!(
//!     Light::parse("blue").unwrap_err().message(),
//!     "unknown light \"blue\"; expected red, amber or green"
//! );
//! ```
//! One invocation may declare several enums. The caller depends on
//! `serde`; attributes before `enum` (docs, a `cfg_attr` deriving a schema)
//! pass through.

#[macro_export]
macro_rules! wire_enum {
    ($(
        $(#[$m:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vm:meta])* $var:ident = $wire:tt ),+ $(,)?
        }
    )+) => {$(
        $crate::wire_enum!(@one $(#[$m])* $vis enum $name ($what) { $( $(#[$vm])* $var = $wire ),+ });
    )+};
    (@one
        $(#[$m:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vm:meta])* $var:ident = $wire:tt ),+
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $( $(#[$vm])* #[serde(rename = $wire)] $var ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; [$($wire),+].len()] = [$($name::$var),+];

            /// The wire name.
            pub fn name(self) -> &'static str {
                match self { $( $name::$var => $wire ),+ }
            }

            /// Reads a wire name; a refusal names what is accepted.
            pub fn parse(s: &str) -> $crate::Result<$name> {
                $name::ALL
                    .into_iter()
                    .find(|x| x.name() == s.trim())
                    .ok_or_else(|| {
                        $crate::Error::invalid(format!(
                            "unknown {} {:?}; expected {}",
                            $what,
                            s,
                            $crate::wire::one_of(&[$($wire),+])
                        ))
                    })
            }
        }

        /// Compares with a wire name (`state == "deleted"`).
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.name() == *other
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

/// `a`, `a or b`, `a, b or c`.
pub fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    crate::wire_enum! {
        /// A test set.
        pub enum Door ("door state") { Open = "open", HalfOpen = "half_open", Shut = "shut" }
    }

    #[test]
    fn names_round_trip_through_serde_parse_and_display() {
        for d in Door::ALL {
            assert_eq!(Door::parse(d.name()).unwrap(), d);
            assert_eq!(
                serde_json::to_value(d).unwrap(),
                serde_json::Value::String(d.to_string())
            );
            let back: Door = serde_json::from_value(serde_json::json!(d.name())).unwrap();
            assert_eq!(back, d);
        }
        assert_eq!(Door::HalfOpen.name(), "half_open");
        assert!(Door::Shut == "shut" && Door::Shut != "open");
        let e = Door::parse("ajar").unwrap_err();
        assert_eq!(
            e.message(),
            "unknown door state \"ajar\"; expected open, half_open or shut"
        );
    }
}
