//! `[gateway]`: the LB pair as the private subnet's router — IP forwarding
//! and source NAT (the seed's `sysctl net.ipv4.ip_forward=1` and
//! `iptables -t nat -A POSTROUTING -s 192.168.1.0/24 -o bond0 -j MASQUERADE`).

use toml::Spanned;

use crate::diag::Sink;
use crate::model::{Family, Gateway, Masquerade};
use crate::reader::Reader;
use crate::values::net::{cidr, ifname};
use crate::values::{self, Value, one_of};

pub(crate) fn gateway(t: &Reader, sink: &mut Sink) -> Gateway {
    let mut masquerade: Vec<Spanned<Masquerade>> = Vec::new();
    for m in t.tables("masquerade", "gateway.masquerade", "masquerade", sink) {
        let Some(one) = m.read(sink, masq) else {
            continue;
        };
        if masquerade.iter().any(|o| *o.get_ref() == one) {
            sink.error(
                m.span(),
                format!("duplicate masquerade of {} out of {}", one.source, one.out),
            );
            continue;
        }
        masquerade.push(Spanned::new(m.span(), one));
    }
    let written = t.opt_or("forward", None, sink, |v, key, sink| {
        families(v, key, sink).map(Some)
    });
    let forward = match written {
        // Not an array (reported): no second error per masquerade.
        None => return Gateway::default(),
        Some(Some(list)) => {
            let mut out: Vec<Family> = Vec::new();
            for f in list {
                if out.contains(f.get_ref()) {
                    sink.error(f.span(), format!("`{}` is listed twice", f.get_ref().key()));
                } else {
                    out.push(*f.get_ref());
                }
            }
            // NAT without forwarding would translate nothing: say so.
            for m in &masquerade {
                let family = Family::of(m.get_ref().source.addr());
                if !out.contains(&family) {
                    sink.error(
                        m.span(),
                        format!(
                            "masquerading {} needs forwarding: add \"{}\" to `forward`",
                            m.get_ref().source,
                            family.key()
                        ),
                    );
                }
            }
            out
        }
        // By default, forward the families that are masqueraded.
        Some(None) => {
            let mut out = Vec::new();
            for m in &masquerade {
                let family = Family::of(m.get_ref().source.addr());
                if !out.contains(&family) {
                    out.push(family);
                }
            }
            out
        }
    };
    Gateway {
        forward,
        masquerade: masquerade.into_iter().map(Spanned::into_inner).collect(),
    }
}

fn masq(t: &Reader, sink: &mut Sink) -> Option<Masquerade> {
    let source = t.req("source", sink, |v, key, sink| {
        let s = values::string(v, key, sink)?;
        let n = cidr(key, s)
            .map_err(|e| sink.error(v.span(), e))
            .ok()?
            .trunc();
        if n.prefix_len() == 0 {
            sink.error(
                v.span(),
                format!(
                    "`{key}`: {n} would also translate this node's own traffic \
                     (a BGP session from a VIP, for one); list the private subnet"
                ),
            );
            return None;
        }
        Some(n)
    });
    let out = t.req("out", sink, |v, key, sink| {
        let name = ifname(v, key, sink)?;
        // nft reads these as wildcards or set references, not as a name.
        if name.get_ref().contains(['*', '@', '\\', '"']) {
            sink.error(
                v.span(),
                format!("`{key}`: `{}` is not an interface name", name.get_ref()),
            );
            return None;
        }
        Some(name)
    });
    Some(Masquerade {
        source: source?,
        out: out?.into_inner(),
    })
}

/// `forward = ["ipv4", "ipv6"]`.
fn families(v: &Value, key: &str, sink: &mut Sink) -> Option<Vec<Spanned<Family>>> {
    values::parsed_list(v, key, sink, |s| {
        Family::from_name(s).ok_or_else(|| one_of(key, s, &Family::NAMES))
    })
}

#[cfg(test)]
mod tests {
    use crate::model::Family;

    fn parse(body: &str) -> Result<crate::Config, String> {
        crate::parse("t.toml", &format!("[gateway]\n{body}")).map_err(|e| e.render())
    }

    #[test]
    fn the_seed_guides_nat_rule() {
        let cfg = parse("masquerade = [{ source = \"192.168.1.0/24\", out = \"bond0\" }]").unwrap();
        assert_eq!(cfg.gateway.forward, [Family::Ipv4]);
        assert_eq!(cfg.gateway.masquerade.len(), 1);
        assert_eq!(
            cfg.gateway.masquerade[0].source.to_string(),
            "192.168.1.0/24"
        );
        assert_eq!(cfg.gateway.masquerade[0].out, "bond0");
        assert!(cfg.gateway.is_enabled());
        // As an array of tables too; host bits are dropped.
        let cfg = parse(
            "forward = [\"ipv4\", \"ipv6\"]\n[[gateway.masquerade]]\nsource = \"192.168.1.7/24\"\nout = \"eth0\"\n",
        )
        .unwrap();
        assert_eq!(cfg.gateway.forward, [Family::Ipv4, Family::Ipv6]);
        assert_eq!(
            cfg.gateway.masquerade[0].source.to_string(),
            "192.168.1.0/24"
        );
        let proxy_only = "[[frontend]]\nname = \"www\"\nbind = [\"127.0.0.1:80\"]\nbackend = \"b\"\n\
                          [[backend]]\nname = \"b\"\nservers = [{ name = \"s\", addr = \"127.0.0.1:81\" }]\n";
        let cfg = crate::parse("t.toml", proxy_only).unwrap_or_else(|e| panic!("{e}"));
        assert!(!cfg.gateway.is_enabled());
    }

    #[test]
    fn errors_point_at_the_entry() {
        let e = parse("masquerade = [{ source = \"192.168.1.0/33\", out = \"a/b\" }]").unwrap_err();
        assert!(e.contains("t.toml:2:26"), "{e}");
        assert!(e.contains("is not a CIDR"), "{e}");
        assert!(e.contains("not a valid interface name"), "{e}");
        let e = parse("masquerade = [{ out = \"eth0\" }]").unwrap_err();
        assert!(e.contains("missing required key `source`"), "{e}");
        let e = parse(
            "forward = [\"ipv6\"]\nmasquerade = [{ source = \"10.0.0.0/8\", out = \"eth0\" }]",
        )
        .unwrap_err();
        assert!(e.contains("add \"ipv4\" to `forward`"), "{e}");
        assert!(e.contains("t.toml:3:15"), "{e}");
        let e = parse("forward = [\"ipv4\", \"ip4\"]").unwrap_err();
        assert!(e.contains("expected one of: ipv4, ipv6"), "{e}");
        let e = parse(
            "masquerade = [{ source = \"10.0.0.0/8\", out = \"eth0\" }, { source = \"10.1.0.0/8\", out = \"eth0\" }]",
        )
        .unwrap_err();
        assert!(
            e.contains("duplicate masquerade of 10.0.0.0/8 out of eth0"),
            "{e}"
        );
        let e = parse("masquerade = [{ source = \"0.0.0.0/0\", out = \"eth*\" }]").unwrap_err();
        assert!(
            e.contains("would also translate this node's own traffic"),
            "{e}"
        );
        assert!(e.contains("`eth*` is not an interface name"), "{e}");
        let e =
            parse("forward = \"ipv4\"\nmasquerade = [{ source = \"10.0.0.0/8\", out = \"eth0\" }]")
                .unwrap_err();
        assert!(e.contains("1 error"), "{e}");
        let e = parse("nat = true").unwrap_err();
        assert!(e.contains("unknown key `nat`"), "{e}");
    }
}
