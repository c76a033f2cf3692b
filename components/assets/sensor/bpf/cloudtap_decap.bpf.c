// SPDX-License-Identifier: Apache-2.0
/*
 * cloudtap-decap.bpf: the sensor's kernel-speed decapsulator, a tc (clsact ingress) program on
 * the interface where mirror feeds arrive.
 *
 * Built by scripts/build-bpf (clang -O2 -target bpf); the object ships in the package, so a
 * sensor needs no compiler. cloudtap-sensor loads it with iproute2 alone
 * (`tc filter add dev UNDERLAY ingress bpf da obj cloudtap_decap.bpf.o sec tc`) and
 * cloudtap-bpf (Python, standard library) fills its maps and reads its counters.
 *
 * For the feeds the config map names, it takes the outer headers off and redirects the mirrored
 * Ethernet frame, unchanged, into the feeder end of the capture veth (cloudtap0-tx):
 *   vxlan   UDP to the configured port (RFC 7348), any VNI
 *   geneve  UDP to the configured port (RFC 8926): Ethernet inside; an IPv4 VXLAN mirror packet
 *           inside (AWS Traffic Mirroring to a Gateway Load Balancer endpoint): both layers
 *           off; any other IP packet (a GWLB inline) gets the fixed Ethernet header below
 *   gre     GRE transparent Ethernet bridging (0x6558), any of checksum, key, sequence
 *   erspan  GRE 0x88BE (type I without, type II with a sequence number) and 0x22EB (type III,
 *           Ethernet frames; IP frames, frame type 2, get the fixed Ethernet header)
 * A copy whose VNI the vlans map lists (VXLAN's; GENEVE's; for GENEVE around VXLAN, the inner
 * VXLAN's, the mirror session's) leaves with one 802.1Q tag of that VLAN id
 * (bpf_skb_vlan_push: outermost, above a tag the frame already carries); GRE and ERSPAN copies
 * and unlisted VNIs leave untagged.
 * Everything else passes untouched (TC_ACT_OK): the sensor's own traffic, feeds the kernel's
 * devices terminate, feeds from a source outside the allowed networks (the nftables table then
 * drops them, as it does for every path) and IP fragments (counted: nothing reassembles them
 * for this path). A malformed feed packet is dropped and counted, as cloudtap-decap drops it.
 * Until cloudtap-bpf has written the config map, every packet passes.
 *
 * A second program, cloudtap_vlan (section tc/vlan: tc picks a program by its section), tags
 * for the kernel's own vxlan device when the sensor tags by VNI: on that device's ingress it reads
 * the VNI from the tunnel metadata (an `external` device keeps it), pushes the tag the vlans map
 * names and redirects into the feeder end, in place of the u32 mirred filter used otherwise.
 * Loaded on its own, it has its own maps (only the config's feeder ifindex and the vlans).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_TEB 0x6558
#define ETH_P_ERSPAN 0x88BE
#define ETH_P_ERSPAN3 0x22EB
#define ETH_P_8021Q 0x8100
/* Entries of the vlans map: components/sensor.py MAX_VLAN_BY_VNI. */
#define MAX_VLANS 64
#define IPPROTO_UDP_ 17
#define IPPROTO_GRE_ 47
/* AWS mirrors to 4789 whatever the sensor's own VXLAN port is (inside GWLB GENEVE too). */
#define AWS_VXLAN_PORT 4789

enum feed { FEED_VXLAN, FEED_GENEVE, FEED_GRE, FEED_ERSPAN, FEEDS };

/* Counter slots: outcome * FEEDS + feed. cloudtap-bpf names them in this order. */
enum outcome {
	DECAPSULATED,   /* redirected into the feeder end */
	MALFORMED,      /* dropped: not a packet of the feed's format */
	FRAGMENT,       /* passed: an IP fragment of the feed */
	REFUSED_SOURCE, /* passed to the nftables table, which drops it */
	FAILED,         /* dropped: the kernel refused to take the headers off */
	OUTCOMES,
};

struct config {
	__u32 feeder_ifindex;
	__u32 feeds;		/* bit (1 << enum feed) per feed this program serves */
	__u16 vxlan_port;	/* host byte order */
	__u16 geneve_port;
};

struct source_key {
	__u32 prefixlen;
	__u32 address;		/* network byte order */
};

struct counter {
	__u64 packets;
	__u64 bytes;
};

/* VNI (host byte order) -> 802.1Q VLAN id: the copies of a listed VNI leave tagged. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_VLANS);
	__type(key, __u32);
	__type(value, __u16);
} ct_vlans SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} ct_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__type(key, struct source_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} ct_sources SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OUTCOMES * FEEDS);
	__type(key, __u32);
	__type(value, struct counter);
} ct_counters SEC(".maps");

/* Where the mirrored frame starts, and whether it needs a synthetic Ethernet header. */
struct inner {
	__u32 offset;
	__u32 vni;		/* the VNI the copy came with; 0 for GRE and ERSPAN */
	__u16 synthetic;	/* 0, or ETH_P_IP / ETH_P_IPV6: the bare packet's family */
};

/* A gateway mirror's heartbeat (cloudtap-net.sh: UDP to 198.18.0.1 port 9, in an Ethernet
 * frame): passed up untouched, so the stack's nft rule counts it per source and drops it; it
 * never reaches the capture interface. */
#define HEARTBEAT_PORT 9

static __always_inline int is_heartbeat(struct __sk_buff *skb, const struct inner *inner)
{
	__u8 frame[ETH_HLEN + 24];
	__u32 header;

	if (inner->synthetic ||
	    bpf_skb_load_bytes(skb, inner->offset, frame, sizeof(frame)))
		return 0;
	if (frame[12] != 0x08 || frame[13] != 0x00 || frame[ETH_HLEN + 9] != IPPROTO_UDP_)
		return 0;
	header = (frame[ETH_HLEN] & 0x0F) * 4;
	if (header != 20) /* the sender writes no IP options */
		return 0;
	/* Byte by byte: the destination sits unaligned in the buffer. */
	return frame[ETH_HLEN + 16] == 198 && frame[ETH_HLEN + 17] == 18 &&
	       frame[ETH_HLEN + 18] == 0 && frame[ETH_HLEN + 19] == 1 &&
	       frame[ETH_HLEN + 22] == 0 && frame[ETH_HLEN + 23] == HEARTBEAT_PORT;
}

static __always_inline int count(enum outcome outcome, enum feed feed, __u32 bytes)
{
	__u32 slot = outcome * FEEDS + feed;
	struct counter *counter = bpf_map_lookup_elem(&ct_counters, &slot);

	if (counter) {
		counter->packets++;
		counter->bytes += bytes;
	}
	return 0;
}

static __always_inline __u16 be16(const __u8 *bytes)
{
	return (__u16)(bytes[0] << 8 | bytes[1]);
}

/* VXLAN header at `at`: the I flag set; the frame follows. */
static __always_inline int parse_vxlan(struct __sk_buff *skb, __u32 at, struct inner *inner)
{
	__u8 vxlan[8];

	if (bpf_skb_load_bytes(skb, at, vxlan, sizeof(vxlan)) || !(vxlan[0] & 0x08))
		return -1;
	inner->offset = at + 8;
	inner->vni = (__u32)vxlan[4] << 16 | (__u32)vxlan[5] << 8 | vxlan[6];
	return 0;
}

/* An IPv4 packet at `at` that is a whole VXLAN mirror packet: where its frame starts. */
static __always_inline int mirrored_vxlan(struct __sk_buff *skb, __u32 at, __u16 vxlan_port,
					  struct inner *inner)
{
	__u8 ip[20], udp[4];
	__u16 port;

	if (bpf_skb_load_bytes(skb, at, ip, sizeof(ip)) || ip[0] >> 4 != 4 || ip[9] != IPPROTO_UDP_)
		return -1;
	if (be16(&ip[6]) & 0x3FFF) /* more fragments, or one */
		return -1;
	at += (ip[0] & 0x0F) * 4;
	if (bpf_skb_load_bytes(skb, at, udp, sizeof(udp)))
		return -1;
	port = be16(&udp[2]);
	if (port != AWS_VXLAN_PORT && port != vxlan_port)
		return -1;
	return parse_vxlan(skb, at + 8, inner);
}

static __always_inline int parse_geneve(struct __sk_buff *skb, __u32 at, __u16 vxlan_port,
					struct inner *inner)
{
	__u8 geneve[8], version;
	__u16 protocol;
	__u32 payload;

	if (bpf_skb_load_bytes(skb, at, geneve, sizeof(geneve)))
		return -1;
	if (geneve[0] >> 6 || geneve[1] & 0x80) /* version 0 only; OAM packets are not copies */
		return -1;
	payload = at + 8 + (geneve[0] & 0x3F) * 4;
	protocol = be16(&geneve[2]);
	/* GENEVE's own VNI; a VXLAN mirror packet inside replaces it with the session's. */
	inner->vni = (__u32)geneve[4] << 16 | (__u32)geneve[5] << 8 | geneve[6];
	if (protocol == ETH_P_TEB) {
		inner->offset = payload;
		return 0;
	}
	if (protocol == ETH_P_IP && mirrored_vxlan(skb, payload, vxlan_port, inner) == 0)
		return 0;
	if (protocol != ETH_P_IP && protocol != ETH_P_IPV6)
		return -1;
	if (bpf_skb_load_bytes(skb, payload, &version, 1))
		return -1;
	inner->offset = payload;
	inner->synthetic = protocol;
	return 0;
}

/* GRE at `at`; `feed` is FEED_GRE or FEED_ERSPAN, chosen from the protocol by the caller. */
static __always_inline int parse_gre(struct __sk_buff *skb, __u32 at, struct inner *inner)
{
	__u8 gre[4], erspan[12];
	__u16 flags, protocol, word;
	__u32 start;

	if (bpf_skb_load_bytes(skb, at, gre, sizeof(gre)))
		return -1;
	flags = be16(&gre[0]);
	protocol = be16(&gre[2]);
	if (flags & 0x4FFF) /* routing, recursion, reserved bits or a version: not RFC 2784/2890 */
		return -1;
	start = at + 4;
	start += flags & 0x8000 ? 4 : 0; /* checksum */
	start += flags & 0x2000 ? 4 : 0; /* key */
	start += flags & 0x1000 ? 4 : 0; /* sequence number */
	if (protocol == ETH_P_TEB) {
		inner->offset = start;
		return 0;
	}
	if (protocol == ETH_P_ERSPAN) {
		if (!(flags & 0x1000)) { /* type I: no ERSPAN header, no sequence number */
			inner->offset = start;
			return 0;
		}
		/* type II (Linux erspan_ver 1, Open vSwitch, OpenStack TaaS): an 8-byte header */
		if (bpf_skb_load_bytes(skb, start, erspan, 1) || erspan[0] >> 4 != 1)
			return -1;
		inner->offset = start + 8;
		return 0;
	}
	/* type III: 12 bytes, 8 more with the platform-specific subheader (O bit) */
	if (bpf_skb_load_bytes(skb, start, erspan, sizeof(erspan)) || erspan[0] >> 4 != 2)
		return -1;
	word = be16(&erspan[10]);
	inner->offset = start + 12 + (word & 1 ? 8 : 0);
	switch ((word >> 10) & 0x1F) {
	case 0:
		return 0;
	case 2:
		if (bpf_skb_load_bytes(skb, inner->offset, erspan, 1))
			return -1;
		inner->synthetic = erspan[0] >> 4 == 4 ? ETH_P_IP : ETH_P_IPV6;
		return 0;
	}
	return -1;
}

/*
 * Take everything from the outer Ethernet header up to the frame off, and put the frame's own
 * Ethernet header (or the synthetic one) where the outer one was. The kernel removes bytes just
 * after the MAC header (BPF_ADJ_ROOM_MAC), so the frame's first 14 bytes go with them and are
 * written back: what leaves is the mirrored frame, byte for byte.
 */
static __always_inline int decapsulate(struct __sk_buff *skb, struct inner *inner)
{
	__u8 header[ETH_HLEN];
	__u32 removed;

	if (inner->synthetic) {
		/* cloudtap-decap's fixed header, 02:00:00:00:00:01 -> 02:00:00:00:00:02, built in
		 * place rather than copied from .rodata, which older tc loaders cannot map */
		__builtin_memset(header, 0, ETH_HLEN);
		header[0] = header[6] = 2;
		header[5] = 2;
		header[11] = 1;
		header[12] = inner->synthetic >> 8;
		header[13] = inner->synthetic & 0xFF;
		removed = inner->offset - ETH_HLEN;
	} else {
		if (bpf_skb_load_bytes(skb, inner->offset, header, ETH_HLEN))
			return -1;
		removed = inner->offset;
	}
	if (inner->offset + (inner->synthetic ? 1 : ETH_HLEN) > skb->len)
		return -1;
	if (bpf_skb_adjust_room(skb, -(__s32)removed, BPF_ADJ_ROOM_MAC, 0))
		return -2;
	if (bpf_skb_store_bytes(skb, 0, header, ETH_HLEN, 0))
		return -2;
	return 0;
}

/* The 802.1Q tag the vlans map names for `vni`, pushed (outermost); -2 if the kernel refused. */
static __always_inline int tag(struct __sk_buff *skb, __u32 vni)
{
	__u16 *vlan;

	if (!vni)
		return 0;
	vlan = bpf_map_lookup_elem(&ct_vlans, &vni);
	if (!vlan)
		return 0;
	return bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), *vlan) ? -2 : 0;
}

SEC("tc")
int cloudtap_decap(struct __sk_buff *skb)
{
	struct inner inner = {0, 0, 0};
	struct source_key source;
	struct config *config;
	__u32 key = 0, at, length = skb->len;
	__u8 ip[20], l4[4];
	enum feed feed;
	int failed;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	config = bpf_map_lookup_elem(&ct_config, &key);
	if (!config || !config->feeds)
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, ip, sizeof(ip)) || ip[0] >> 4 != 4)
		return TC_ACT_OK;
	if (be16(&ip[6]) & 0x1FFF) /* a later fragment: no header to tell a feed by */
		return TC_ACT_OK;
	at = ETH_HLEN + (ip[0] & 0x0F) * 4;
	if (bpf_skb_load_bytes(skb, at, l4, sizeof(l4)))
		return TC_ACT_OK;
	if (ip[9] == IPPROTO_UDP_) {
		if (be16(&l4[2]) == config->vxlan_port)
			feed = FEED_VXLAN;
		else if (be16(&l4[2]) == config->geneve_port)
			feed = FEED_GENEVE;
		else
			return TC_ACT_OK;
	} else if (ip[9] == IPPROTO_GRE_) {
		if (be16(&l4[2]) == ETH_P_TEB)
			feed = FEED_GRE;
		else if (be16(&l4[2]) == ETH_P_ERSPAN || be16(&l4[2]) == ETH_P_ERSPAN3)
			feed = FEED_ERSPAN;
		else
			return TC_ACT_OK;
	} else {
		return TC_ACT_OK;
	}
	if (!(config->feeds & (1U << feed)))
		return TC_ACT_OK; /* a kernel device (or cloudtap-decap) takes this feed */
	source.prefixlen = 32;
	__builtin_memcpy(&source.address, &ip[12], 4);
	if (!bpf_map_lookup_elem(&ct_sources, &source))
		return count(REFUSED_SOURCE, feed, length), TC_ACT_OK;
	if (be16(&ip[6]) & 0x2000) /* the first fragment */
		return count(FRAGMENT, feed, length), TC_ACT_OK;

	if (feed == FEED_VXLAN)
		failed = parse_vxlan(skb, at + 8, &inner);
	else if (feed == FEED_GENEVE)
		failed = parse_geneve(skb, at + 8, config->vxlan_port, &inner);
	else
		failed = parse_gre(skb, at, &inner);
	if (!failed && is_heartbeat(skb, &inner))
		return TC_ACT_OK; /* the sensor's nft rule counts it per source and drops it */
	if (!failed)
		failed = decapsulate(skb, &inner);
	if (!failed)
		failed = tag(skb, inner.vni);
	if (failed)
		return count(failed == -1 ? MALFORMED : FAILED, feed, length), TC_ACT_SHOT;
	count(DECAPSULATED, feed, skb->len);
	return bpf_redirect(config->feeder_ifindex, 0);
}

/*
 * The kernel vxlan device's tagger: every frame the device received goes into the feeder end,
 * tagged when its VNI is listed. Until cloudtap-bpf has written the feeder's ifindex, and for a
 * frame without tunnel metadata (or a tag the kernel refuses), it drops: a tagging sensor never
 * hands the IDS an untagged copy of a listed session.
 */
SEC("tc/vlan")
int cloudtap_vlan(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key;
	struct config *config;
	__u32 zero = 0, length = skb->len;

	config = bpf_map_lookup_elem(&ct_config, &zero);
	if (!config || !config->feeder_ifindex)
		return TC_ACT_SHOT;
	if (bpf_skb_get_tunnel_key(skb, &key, sizeof(key), 0) ||
	    tag(skb, (__u32)key.tunnel_id & 0xFFFFFF))
		return count(FAILED, FEED_VXLAN, length), TC_ACT_SHOT;
	count(DECAPSULATED, FEED_VXLAN, skb->len);
	return bpf_redirect(config->feeder_ifindex, 0);
}

char LICENSE[] SEC("license") = "Apache-2.0";
