#!/bin/bash
# Make fabtel's path tables (fabtel/platforms/paths/PLATFORM.tsv) from the
# vendors' published YANG models, with pyang and tools/yang_paths.py. Run by
# hand, never by CI or a test: it needs the models, which are not committed.
#
#   [IETF=DIR] tools/path-tables.sh PLATFORM MODELS_DIR
#
# MODELS_DIR is a checkout of the platform's repository at the release named
# below (git archive of the tag, or the release directory for Junos and
# EOS). IETF names a directory of the IETF modules the OpenConfig ones import
# (openconfig/public's third_party) where the vendor's tree has none (EOS).
# The table keeps the subtrees fabtel reads, sets or renders in its lab.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
platform=$1
root=$(cd "$2" && pwd)
ietf=${IETF:-$root/third_party}
out="$here/../fabtel/platforms/paths/$platform.tsv"
OC_UNDER=/interfaces/interface,/lacp/interfaces,/lldp,/network-instances/network-instance/protocols/protocol/bgp/neighbors,/network-instances/network-instance/evpn,/system/config,/system/state,/sampling/sflow,/ethernet-segments
deviations=()
features=()
case $platform in
  srlinux)
    source="github.com/nokia/srlinux-yang-models tag v25.3.1 (commit cd5995eaa6818d02bfff3ae718b89454a82191eb)"
    M=srlinux-yang-models/srl_nokia/models
    search="$root/srlinux-yang-models/ietf:$root/srlinux-yang-models/iana:$root/$M"
    under=/interface,/system/lldp,/system/name,/network-instance/protocols/bgp/neighbor,/system/network-instance/protocols/evpn,/system/sflow
    modules=($M/system/srl_nokia-system.yang $M/interfaces/srl_nokia-interfaces.yang $M/interfaces/srl_nokia-lacp.yang
             $M/interfaces/srl_nokia-interfaces-lag.yang $M/system/srl_nokia-lldp.yang $M/system/srl_nokia-system-name.yang
             $M/network-instance/srl_nokia-network-instance.yang $M/network-instance/srl_nokia-bgp.yang
             $M/system/srl_nokia-system-network-instance.yang
             $M/system/srl_nokia-system-network-instance-bgp-evpn-ethernet-segments.yang $M/system/srl_nokia-sflow.yang)
    features=(-X srl_nokia-features:platform-imgmt) ;;   # a 7220 IXR-D2 is not an imgmt platform: its sFlow is modelled
  openconfig)
    source="github.com/openconfig/public tag v5.9.0 (commit f34434149a47aa8ff82ffd32add3aacb7c880af2)"
    M=release/models
    search="$root/release/models:$root/third_party"
    under=$OC_UNDER
    modules=($M/interfaces/openconfig-interfaces.yang $M/interfaces/openconfig-if-ethernet.yang
             $M/interfaces/openconfig-if-aggregate.yang $M/lacp/openconfig-lacp.yang $M/lldp/openconfig-lldp.yang
             $M/network-instance/openconfig-network-instance.yang $M/system/openconfig-system.yang
             $M/sampling/openconfig-sampling.yang $M/sampling/openconfig-sampling-sflow.yang
             $M/ethernet-segments/openconfig-ethernet-segments.yang) ;;
  eos)
    source="github.com/aristanetworks/yang EOS-4.36.1F (the OpenConfig models EOS ships and Arista's deviations)"
    M=release/openconfig/models
    search="$root/openconfig/public/release/models:$ietf:$root/$M:$root/experimental/eos/models"
    under=$OC_UNDER
    O=openconfig/public/release/models
    modules=($O/interfaces/openconfig-interfaces.yang $O/interfaces/openconfig-if-ethernet.yang
             $O/interfaces/openconfig-if-aggregate.yang $O/lacp/openconfig-lacp.yang $O/lldp/openconfig-lldp.yang
             $O/network-instance/openconfig-network-instance.yang $O/system/openconfig-system.yang
             $O/sampling/openconfig-sampling.yang $O/sampling/openconfig-sampling-sflow.yang
             $O/ethernet-segments/openconfig-ethernet-segments.yang)
    for d in $(cd "$root" && ls $M/*/arista-*-deviations.yang); do deviations+=(--deviation-module "$root/$d"); done ;;
  junos)
    source="github.com/Juniper/yang 24.4/24.4R1/openconfig (the OpenConfig models Junos 24.4R1 ships and Juniper's deviations)"
    M=models
    search="$root/models:$root/models/augments:$root/models/deviations:$ietf"
    under=$OC_UNDER
    modules=($M/openconfig-interfaces.yang $M/openconfig-if-ethernet.yang $M/openconfig-if-aggregate.yang
             $M/openconfig-lacp.yang $M/openconfig-lldp.yang $M/openconfig-network-instance.yang
             $M/openconfig-system.yang $M/openconfig-sampling.yang $M/openconfig-sampling-sflow.yang)
    for d in $(cd "$root" && ls $M/deviations/*.yang); do deviations+=(--deviation-module "$root/$d"); done ;;
  sonic)
    source="github.com/sonic-net/sonic-mgmt-common master (commit f71cf829883c36963455cf4d90fe16dae35f0b80): the OpenConfig models SONiC's management framework serves, and its deviations"
    M=models/yang
    search="$root/$M:$root/$M/common:$root/$M/extensions:$root/$M/annotations"
    under=$OC_UNDER
    modules=($M/openconfig-interfaces.yang $M/openconfig-if-ethernet.yang $M/common/openconfig-if-aggregate.yang
             $M/openconfig-lldp.yang $M/openconfig-system.yang $M/openconfig-sampling-sflow.yang)
    for d in $(cd "$root" && ls $M/extensions/*deviation*.yang); do deviations+=(--deviation-module "$root/$d"); done ;;
  *) echo "unknown platform $platform" >&2; exit 2 ;;
esac
# SONiC's native tables (origin sonic-db) have no YANG: their rows come from
# the documents that define them, each row naming its own.
native() {
  [ "$platform" = sonic ] || return 0
  local swss="sonic-net/sonic-swss doc/swss-schema.md (commit e6b0c5b5d2ab52354c4ec941f7c9005aeec3f779)"
  printf '%s\t%s\t%s\t%s\t%s\n' \
    /APPL_DB/localhost/PORT_TABLE/*/oper_status 'enumeration(down|up)' state APPL_DB "$swss: APPL_DB PORT_TABLE" \
    /APPL_DB/localhost/PORT_TABLE/*/admin_status 'enumeration(down|up)' state APPL_DB "$swss: APPL_DB PORT_TABLE" \
    /APPL_DB/localhost/LAG_MEMBER_TABLE/*/status 'enumeration(enabled|disabled)' state APPL_DB \
      "$swss: LAG member status; the table's name LAG_MEMBER_TABLE from sonic-net/sonic-swss-common common/schema.h APP_LAG_MEMBER_TABLE_NAME (commit 85a39d8004ad8ffb21f20bb46691e9fa08a9b6fa)" \
    /STATE_DB/localhost/PORT_INDEX_TABLE/*/index uint32 state STATE_DB \
      "sflow/host-sflow src/Linux/mod_sonic.c v2.1.25-4 (commit 67993534f6defcc2a7ca68538bf9b8124bcb37c7): HSP_SONIC_FIELD_IFINDEX of PORT_INDEX_TABLE" \
    /CONFIG_DB/localhost/PORT/*/alias string config CONFIG_DB \
      "sonic-net/sonic-mgmt-common models/yang/sonic/sonic-port.yang (commit f71cf829883c36963455cf4d90fe16dae35f0b80): PORT/PORT_LIST/alias"
}
cd "$root"
{
  echo "# fabtel path table: $platform"
  echo "# source: $source"
  echo "# modules: ${modules[*]}"
  echo "# made by tools/path-tables.sh with pyang $(pyang --version | awk '{print $2}'), subtrees: $under"
  printf "path\ttype\tconfig\tmodule\tfile\n"
  native
  pyang --plugindir "$here" -f fabtel-paths --paths-root "$root" --paths-under "$under" -p "$search" \
        "${features[@]}" "${deviations[@]}" "${modules[@]}" 2>/dev/null || true    # a vendor's tree has errors elsewhere
} > "$out"
rows=$(grep -vc '^#' "$out")
[ "$rows" -gt 100 ] || { echo "$out: only $rows rows: see pyang's errors (run it without 2>/dev/null)" >&2; exit 1; }
echo "$out: $rows rows"
