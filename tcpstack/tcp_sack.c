/* SPDX-License-Identifier: Apache-2.0
 * The sender's SACK scoreboard (RFC 6675 section 4): which bytes above SND.UNA the peer holds,
 * IsLost, SetPipe and NextSeg. Pure functions of (SND.UNA, HighData, SMSS): tcp_proto.c owns
 * the sending. Every call costs O(TCP_SB_BLOCKS); ranges are byte ranges, so the counts are the
 * RFC's octet-exact ones without walking segments.
 */
#include <string.h>

#include "tcpstack/tcp_pvt.h"

static uint32_t
seq_max(uint32_t a, uint32_t b)
{
	return SEQ_GT(a, b) ? a : b;
}

static uint32_t
seq_min(uint32_t a, uint32_t b)
{
	return SEQ_LT(a, b) ? a : b;
}

static uint32_t
sb_bytes(const struct tcp_sackboard *sb)
{
	uint32_t n = 0;

	for (unsigned int i = 0; i < sb->n; i++)
		n += sb->blk[i][1] - sb->blk[i][0];
	return n;
}

/* Merge one range into the sorted, disjoint list. When it would overflow, the lowest range is
 * forgotten: its bytes then look unSACKed, which costs at worst a needless retransmission,
 * whereas forgetting a high range would hide losses below it. */
static void
sb_insert(struct tcp_sackboard *sb, uint32_t l, uint32_t r)
{
	uint32_t tmp[TCP_SB_BLOCKS + 1][2];
	unsigned int k = 0, done = 0;

	for (unsigned int i = 0; i < sb->n; i++) {
		uint32_t bl = sb->blk[i][0], br = sb->blk[i][1];

		if (SEQ_LT(br, l)) {
			tmp[k][0] = bl, tmp[k][1] = br, k++;
		} else if (SEQ_GT(bl, r)) {
			if (!done) {
				tmp[k][0] = l, tmp[k][1] = r, k++;
				done = 1;
			}
			tmp[k][0] = bl, tmp[k][1] = br, k++;
		} else {
			l = seq_min(l, bl);
			r = seq_max(r, br);
		}
	}
	if (!done)
		tmp[k][0] = l, tmp[k][1] = r, k++;
	if (k > TCP_SB_BLOCKS) {
		memcpy(sb->blk, tmp + 1, sizeof(sb->blk));
		sb->n = TCP_SB_BLOCKS;
	} else {
		memcpy(sb->blk, tmp, k * sizeof(tmp[0]));
		sb->n = (uint8_t)k;
	}
}

/* RFC 6675 Update(): record the blocks of one ACK; returns the bytes newly SACKed. A block
 * beyond HighData is bogus and ignored whole; one at or below SND.UNA is a D-SACK (RFC 2883)
 * and says nothing about what is missing. */
uint32_t
tcp_sb_update(struct tcp_sackboard *sb, uint32_t una, uint32_t max, const uint32_t (*blk)[2],
              unsigned int n)
{
	uint32_t before = sb_bytes(sb);

	for (unsigned int i = 0; i < n; i++) {
		uint32_t l = blk[i][0], r = blk[i][1];

		if (!SEQ_LT(l, r) || !SEQ_GT(r, una) || SEQ_GT(r, max))
			continue;
		sb_insert(sb, seq_max(l, una), r);
	}
	return sb_bytes(sb) - before;
}

/* SND.UNA advanced: forget what it covers. */
void
tcp_sb_trim(struct tcp_sackboard *sb, uint32_t una)
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < sb->n; i++) {
		if (SEQ_LEQ(sb->blk[i][1], una))
			continue;
		sb->blk[k][0] = seq_max(sb->blk[i][0], una);
		sb->blk[k][1] = sb->blk[i][1];
		k++;
	}
	sb->n = (uint8_t)k;
}

/* IsLost() as a boundary: an unSACKed byte is lost when DupThresh ranges (sb->dupthresh), or more than
 * (DupThresh - 1) * SMSS bytes, are SACKed above it. Both counts grow as the byte gets lower,
 * so every unSACKed byte below the returned edge is lost and none above it (RFC 6675 4). A
 * tail-loss probe that was SACKed moves the edge up to itself (lost_to: RFC 8985's time rule,
 * since everything below the probe was sent at least a PTO before it). */
uint32_t
tcp_sb_lost_edge(const struct tcp_sackboard *sb, uint32_t una, uint32_t mss)
{
	uint32_t edge = una, bytes = 0;

	for (unsigned int i = sb->n, cnt = 1; i-- > 0; cnt++) {
		bytes += sb->blk[i][1] - sb->blk[i][0];
		if (cnt >= sb->dupthresh || bytes > (sb->dupthresh - 1u) * mss) {
			edge = sb->blk[i][0];
			break;
		}
	}
	if (SEQ_GT(sb->lost_to, edge))
		edge = sb->lost_to;
	return edge;
}

/* SetPipe(): per unSACKed byte of [una, max), one if not lost, plus one if retransmitted. */
uint32_t
tcp_sb_pipe(const struct tcp_sackboard *sb, uint32_t una, uint32_t max, uint32_t mss)
{
	uint32_t lost = tcp_sb_lost_edge(sb, una, mss);
	uint32_t rxt = sb->rec ? sb->high_rxt : una;
	uint32_t pipe = 0, a = una;

	for (unsigned int i = 0; i <= sb->n; i++) {
		uint32_t b = i < sb->n ? sb->blk[i][0] : max;

		if (SEQ_LT(a, b)) {
			uint32_t lo = seq_max(a, lost), hi = seq_min(b, rxt);

			if (SEQ_LT(lo, b))
				pipe += b - lo;
			if (SEQ_LT(a, hi))
				pipe += hi - a;
		}
		if (i < sb->n)
			a = seq_max(a, sb->blk[i][1]);
	}
	return pipe;
}

/* NextSeg() rules 1, 3 and 4 (rule 2, new data, is the caller's): the segment to retransmit
 * as [*seq, *seq + *len), never covering SACKed bytes. Returns 1 if there is one. Rule 1: the
 * first lost hole byte at or above HighRxt; rule 3: the first hole byte there below the highest
 * SACKed byte; rule 4 (rescue, once per recovery): the last SMSS of the highest hole. */
int
tcp_sb_next_seg(struct tcp_sackboard *sb, uint32_t una, uint32_t max, uint32_t mss, int rule,
                uint32_t *seq, uint32_t *len)
{
	uint32_t from = seq_max(una, sb->high_rxt), a = una;
	uint32_t limit;

	if (sb->n == 0)
		return 0;
	if (rule == 4) {
		/* Here `max` is RecoveryPoint: the rescue is for the flight that was lost, not for
		 * data sent since. Find the highest unSACKed byte below it. */
		uint32_t end = max, start = una;

		if (sb->rescued)
			return 0;
		for (unsigned int i = sb->n; i-- > 0;) {
			if (SEQ_GEQ(sb->blk[i][0], end))
				continue;
			if (SEQ_GEQ(sb->blk[i][1], end)) {
				end = sb->blk[i][0];
				continue;
			}
			start = sb->blk[i][1];
			break;
		}
		/* Not data this recovery already resent (RFC 6675 would allow it; it can only be
		 * a duplicate until the RTO). */
		if (!SEQ_LT(start, end) || SEQ_LEQ(end, sb->high_rxt))
			return 0;
		*len = RTE_MIN(end - start, mss);
		*seq = end - *len;
		sb->rescued = 1;
		return 1;
	}
	limit = rule == 1 ? tcp_sb_lost_edge(sb, una, mss) : sb->blk[sb->n - 1][0];
	for (unsigned int i = 0; i < sb->n; i++) {
		uint32_t b = sb->blk[i][0], s = seq_max(a, from);

		if (!SEQ_LT(s, limit))
			return 0;
		if (SEQ_LT(s, b)) {
			*seq = s;
			*len = RTE_MIN(b - s, mss);
			return 1;
		}
		a = seq_max(a, sb->blk[i][1]);
	}
	return 0;
}

/* The first byte at or after `seq` that is not SACKed (go-back-N skips what the peer has). */
uint32_t
tcp_sb_skip(const struct tcp_sackboard *sb, uint32_t seq)
{
	for (unsigned int i = 0; i < sb->n; i++)
		if (SEQ_LEQ(sb->blk[i][0], seq) && SEQ_LT(seq, sb->blk[i][1]))
			return sb->blk[i][1];
	return seq;
}

int
tcp_sb_covers(const struct tcp_sackboard *sb, uint32_t seq)
{
	return tcp_sb_skip(sb, seq) != seq;
}

/* Bytes from `seq` (unSACKed) up to the next SACKed range, or to `max`. */
uint32_t
tcp_sb_hole_len(const struct tcp_sackboard *sb, uint32_t seq, uint32_t max)
{
	for (unsigned int i = 0; i < sb->n; i++)
		if (SEQ_GT(sb->blk[i][0], seq))
			return sb->blk[i][0] - seq;
	return SEQ_GT(max, seq) ? max - seq : 0;
}

/* SACKed bytes at or above `seq`. */
uint32_t
tcp_sb_sacked_above(const struct tcp_sackboard *sb, uint32_t seq)
{
	uint32_t n = 0;

	for (unsigned int i = 0; i < sb->n; i++)
		if (SEQ_GT(sb->blk[i][1], seq))
			n += sb->blk[i][1] - seq_max(sb->blk[i][0], seq);
	return n;
}
