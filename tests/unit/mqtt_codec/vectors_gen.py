#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Turn mqtt-packet 9.0.2's codec vectors (../shared/vectors/mqtt-packet-vectors.json) into a C
table for test_vectors.c. Run by meson at build time: vectors_gen.py JSON OUT.h

For every parse vector the expected packet is written in the canonical text form of
codec_dump.h, mapping mqtt-packet's JavaScript field names once, here. Encoder vectors become C
statements filling a struct mqtt_packet, or, when the JavaScript value has no C counterpart (a
string where a number goes, a negative unsigned, a non-array list), a stated reason: those are
counted by the test, never silently dropped.

If the JSON file is missing the table says so and the test fails loudly (the build still works).
"""
import json
import os
import re
import sys

CMDS = {'connect': 1, 'connack': 2, 'publish': 3, 'puback': 4, 'pubrec': 5, 'pubrel': 6,
        'pubcomp': 7, 'subscribe': 8, 'suback': 9, 'unsubscribe': 10, 'unsuback': 11,
        'pingreq': 12, 'pingresp': 13, 'disconnect': 14, 'auth': 15}

# mqtt-packet property name -> (identifier, kind): 'int', 'bool', 'str' (UTF-8) or 'bin'.
PROPS = {
    'payloadFormatIndicator': (0x01, 'bool'), 'messageExpiryInterval': (0x02, 'int'),
    'contentType': (0x03, 'str'), 'responseTopic': (0x08, 'str'),
    'correlationData': (0x09, 'bin'), 'subscriptionIdentifier': (0x0B, 'sid'),
    'sessionExpiryInterval': (0x11, 'int'), 'assignedClientIdentifier': (0x12, 'str'),
    'serverKeepAlive': (0x13, 'int'), 'authenticationMethod': (0x15, 'str'),
    'authenticationData': (0x16, 'bin'), 'requestProblemInformation': (0x17, 'bool'),
    'willDelayInterval': (0x18, 'int'), 'requestResponseInformation': (0x19, 'bool'),
    'responseInformation': (0x1A, 'str'), 'serverReference': (0x1C, 'str'),
    'reasonString': (0x1F, 'str'), 'receiveMaximum': (0x21, 'int'),
    'topicAliasMaximum': (0x22, 'int'), 'topicAlias': (0x23, 'int'),
    'maximumQoS': (0x24, 'int'), 'retainAvailable': (0x25, 'bool'),
    'userProperties': (0x26, 'user'), 'maximumPacketSize': (0x27, 'int'),
    'wildcardSubscriptionAvailable': (0x28, 'bool'),
    'subscriptionIdentifiersAvailable': (0x29, 'bool'),
    'sharedSubscriptionAvailable': (0x2A, 'bool'),
}


class NotRepresentable(Exception):
    pass


def raw(v):
    """Bytes of a JSON string (UTF-8) or {"$hex": ...} buffer."""
    if isinstance(v, dict) and '$hex' in v:
        return bytes.fromhex(v['$hex'])
    if isinstance(v, str):
        return v.encode('utf-8', 'surrogatepass')
    raise NotRepresentable(f'{v!r} is neither a string nor a buffer')


def hexs(v):
    if isinstance(v, dict) and '$omitted_bytes' in v:
        return ''  # the test checks the length of an omitted payload, not its bytes
    return raw(v).hex() if v is not None else ''


def b(v):
    return 1 if v else 0


def dump_props(props):
    props = props or {}
    out, sids, users = [], [], []
    for name, val in props.items():
        pid, kind = PROPS[name]
        if kind == 'sid':
            sids += val if isinstance(val, list) else [val]
        elif kind == 'user':
            for k, vs in val.items():
                for x in (vs if isinstance(vs, list) else [vs]):
                    users.append(f'{raw(k).hex()}:{raw(x).hex()},')
        elif kind in ('str', 'bin'):
            out.append((pid, f'p{pid:02x}={hexs(val)}'))
        else:
            out.append((pid, f'p{pid:02x}={int(val)}'))
    s = ' props{' + ''.join(' ' + t for _, t in sorted(out))
    if sids:
        s += ' sid=[' + ''.join(f'{x},' for x in sids) + ']'
    if users:
        s += ' up=[' + ''.join(users) + ']'
    return s + ' }'


def dump(p, version):
    """The canonical form (codec_dump.h) of an mqtt-packet packet object."""
    t = CMDS[p['cmd']]
    s = f'type={t}'
    cmd = p['cmd']
    if cmd == 'connect':
        lvl = p.get('protocolVersion', 4)
        s += (f" level={lvl} bridge={b(p.get('bridgeMode'))} clean={b(p.get('clean', True))}"
              f" keepalive={p.get('keepalive', 0)} cid={hexs(p.get('clientId', ''))}")
        w = p.get('will')
        if w:
            s += (f" will qos={w.get('qos', 0)} retain={b(w.get('retain'))}"
                  f" topic={hexs(w.get('topic'))} payload={hexs(w.get('payload'))}")
            s += dump_props(w.get('properties'))
        if 'username' in p:
            s += f" user={hexs(p['username'])}"
        if 'password' in p:
            s += f" pass={hexs(p['password'])}"
        s += dump_props(p.get('properties'))
    elif cmd == 'connack':
        rc = p.get('reasonCode', p.get('returnCode', 0))
        s += f" sp={b(p.get('sessionPresent'))} rc={rc}" + dump_props(p.get('properties'))
    elif cmd == 'publish':
        s += (f" qos={p.get('qos', 0)} dup={b(p.get('dup'))} retain={b(p.get('retain'))}"
              f" pid={p.get('messageId', 0) if p.get('qos', 0) else 0}"
              f" topic={hexs(p.get('topic'))} payload={hexs(p.get('payload'))}")
        s += dump_props(p.get('properties'))
    elif cmd in ('puback', 'pubrec', 'pubrel', 'pubcomp'):
        s += f" pid={p['messageId']} rc={p.get('reasonCode', 0)}" + dump_props(p.get('properties'))
    elif cmd == 'subscribe':
        subs = ''
        for e in p['subscriptions']:
            rap = b(e.get('rap')) if version == 5 else 0
            nl = b(e.get('nl')) if version == 5 else 0
            rh = e.get('rh', 0) if version == 5 else 0
            subs += f"{hexs(e['topic'])}:{e['qos']}:{nl}:{rap}:{rh},"
        s += f" pid={p['messageId']} subs=[{subs}] n={len(p['subscriptions'])}"
        s += dump_props(p.get('properties'))
    elif cmd == 'unsubscribe':
        u = ''.join(hexs(x) + ',' for x in p['unsubscriptions'])
        s += f" pid={p['messageId']} unsubs=[{u}] n={len(p['unsubscriptions'])}"
        s += dump_props(p.get('properties'))
    elif cmd in ('suback', 'unsuback'):
        rcs = bytes(p.get('granted', [])).hex()
        s += f" pid={p['messageId']} rcs={rcs}" + dump_props(p.get('properties'))
    elif cmd in ('disconnect', 'auth'):
        s += f" rc={p.get('reasonCode', 0)}" + dump_props(p.get('properties'))
    return s


def cstr(bs):
    return '"' + ''.join(f'\\{c:03o}' for c in bs) + '"'


def need_int(v, what, lo=0, hi=2**32 - 1):
    if isinstance(v, bool) or not isinstance(v, int):
        raise NotRepresentable(f'{what} {v!r} is not an integer')
    if v < lo:
        raise NotRepresentable(f'{what} {v} is negative: C field is unsigned')
    if v > hi:
        raise NotRepresentable(f'{what} {v} does not fit the C field')
    return v


def build_props(props, field):
    """C statements filling struct mqtt_props `field` from an mqtt-packet properties object."""
    st = []
    users = []
    for name, val in (props or {}).items():
        pid, kind = PROPS[name]
        cname = {
            0x01: 'payload_format_indicator', 0x02: 'message_expiry_interval',
            0x03: 'content_type', 0x08: 'response_topic', 0x09: 'correlation_data',
            0x11: 'session_expiry_interval', 0x12: 'assigned_client_identifier',
            0x13: 'server_keep_alive', 0x15: 'authentication_method',
            0x16: 'authentication_data', 0x17: 'request_problem_information',
            0x18: 'will_delay_interval', 0x19: 'request_response_information',
            0x1A: 'response_information', 0x1C: 'server_reference', 0x1F: 'reason_string',
            0x21: 'receive_maximum', 0x22: 'topic_alias_maximum', 0x23: 'topic_alias',
            0x24: 'maximum_qos', 0x25: 'retain_available', 0x27: 'maximum_packet_size',
            0x28: 'wildcard_subscription_available',
            0x29: 'subscription_identifier_available', 0x2A: 'shared_subscription_available',
        }.get(pid)
        if kind == 'sid':
            ids = val if isinstance(val, list) else [val]
            for x in ids:
                # Subscription identifiers are variable byte integers: a value above 2^28-1
                # is representable in uint32_t and must be refused by the encoder.
                need_int(x, name)
            st.append(f'{field}.sub_id_count = {len(ids)};')
            st.append(f'{field}.sub_id = {ids[0]}u;')
        elif kind == 'user':
            for k, vs in val.items():
                for x in (vs if isinstance(vs, list) else [vs]):
                    users.append(f'{{S({cstr(raw(k))}), S({cstr(raw(x))})}}')
        else:
            st.append(f'{field}.present |= MQTT_PROP_BIT(0x{pid:02x});')
            if kind in ('str', 'bin'):
                st.append(f'{field}.{cname} = S({cstr(raw(val))});')
            elif kind == 'bool':
                if not isinstance(val, bool):
                    raise NotRepresentable(f'{name} {val!r} is not a boolean')
                st.append(f'{field}.{cname} = {int(val)};')
            else:
                need_int(val, name, hi=0xffff if pid in (0x13, 0x21, 0x22, 0x23) else 2**32 - 1)
                st.append(f'{field}.{cname} = {val}u;')
    if users:
        arr = 'up_' + re.sub(r'\W', '_', field)
        st.append(f'static const struct mqtt_user_prop {arr}[] = {{{", ".join(users)}}};')
        st.append(f'{field}.user_array = {arr};')
        st.append(f'{field}.user_count = {len(users)};')
    return st


def build(p, version):
    """C statements filling `struct mqtt_packet *p` and `int *version`, or NotRepresentable."""
    cmd = p.get('cmd')
    if 'messageId' in p:
        need_int(p['messageId'], 'messageId', hi=0xffff)
    if cmd is None or cmd not in CMDS:
        # An absent or unknown command is type 0 in C, which the encoder must refuse.
        return ['p->type = 0;', f'*version = {version};']
    st = [f'p->type = {CMDS[cmd]};', f'*version = {version};']
    if cmd == 'connect':
        if 'protocolId' in p and not isinstance(p['protocolId'], str):
            raise NotRepresentable('protocolId is not a string (C derives it from the level)')
        lvl = need_int(p.get('protocolVersion', 4), 'protocolVersion', hi=255)
        st.append(f'p->connect.protocol_level = {lvl};')
        st.append(f"p->connect.bridge = {b(p.get('bridgeMode'))};")
        st.append(f"p->connect.clean_start = {b(p.get('clean', True))};")
        ka = need_int(p.get('keepalive', 0), 'keepalive', hi=0xffff)
        st.append(f'p->connect.keep_alive = {ka};')
        if 'clientId' in p:
            st.append(f"p->connect.client_id = S({cstr(raw(p['clientId']))});")
        if 'will' in p:
            w = p['will']
            if not isinstance(w, dict):
                raise NotRepresentable('will is not an object')
            st.append('p->connect.will_flag = 1;')
            st.append(f"p->connect.will_qos = {need_int(w.get('qos', 0), 'will qos', hi=255)};")
            st.append(f"p->connect.will_retain = {b(w.get('retain'))};")
            if 'topic' in w:
                st.append(f"p->connect.will_topic = S({cstr(raw(w['topic']))});")
            st.append(f"p->connect.will_payload = S({cstr(raw(w.get('payload', '')))});")
            st += build_props(w.get('properties'), 'p->connect.will_props')
        if 'username' in p:
            st.append('p->connect.username_flag = 1;')
            st.append(f"p->connect.username = S({cstr(raw(p['username']))});")
        if 'password' in p:
            st.append('p->connect.password_flag = 1;')
            st.append(f"p->connect.password = S({cstr(raw(p['password']))});")
        st += build_props(p.get('properties'), 'p->connect.props')
    elif cmd == 'connack':
        rc = p.get('reasonCode', p.get('returnCode', 0))
        st.append(f"p->connack.reason = {need_int(rc, 'returnCode', hi=255)};")
        st.append(f"p->connack.session_present = {b(p.get('sessionPresent'))};")
        st += build_props(p.get('properties'), 'p->connack.props')
    elif cmd == 'publish':
        st.append(f"p->publish.qos = {need_int(p.get('qos', 0), 'qos', hi=255)};")
        st.append(f"p->publish.dup = {b(p.get('dup'))};")
        st.append(f"p->publish.retain = {b(p.get('retain'))};")
        if p.get('qos', 0):
            st.append(f"p->publish.packet_id = {need_int(p.get('messageId'), 'messageId', hi=0xffff)};")
        st.append(f"p->publish.topic = S({cstr(raw(p.get('topic', '')))});")
        pl = p.get('payload', '')
        if isinstance(pl, dict) and '$omitted_bytes' in pl:
            # Never read: the length alone makes the packet too large to encode.
            st.append('static const uint8_t dummy[1];')
            st.append(f"p->publish.payload = (struct mqtt_str){{dummy, {pl['$omitted_bytes']}u}};")
        else:
            st.append(f'p->publish.payload = S({cstr(raw(pl))});')
        st += build_props(p.get('properties'), 'p->publish.props')
    elif cmd == 'unsubscribe':
        u = p.get('unsubscriptions')
        if not isinstance(u, list) or not all(isinstance(x, str) for x in u):
            raise NotRepresentable('unsubscriptions is not an array of strings')
        fl = ', '.join(f'S({cstr(raw(x))})' for x in u)
        st.append(f'static const struct mqtt_str filters[] = {{{fl}}};')
        st.append('p->unsubscribe.filters = filters;')
        st.append(f'p->unsubscribe.count = {len(u)};')
        st.append(f"p->unsubscribe.packet_id = {need_int(p.get('messageId'), 'messageId', hi=0xffff)};")
    else:
        raise NotRepresentable(f'no builder for {cmd}')
    return st


def main():
    src, out = sys.argv[1], sys.argv[2]
    lines = ['/* Generated by vectors_gen.py from mqtt-packet-vectors.json: do not edit. */',
             '#define S(lit) ((struct mqtt_str){(const uint8_t *)(lit), sizeof(lit) - 1})']
    if not os.path.exists(src):
        lines += [f'#define VECTORS_MISSING "{src}"',
                  'static const struct vec vectors[1];', 'static const int n_vectors = 0;',
                  'static int vec_build(int i, struct mqtt_packet *p, int *version) '
                  '{ (void)i; (void)p; (void)version; return -1; }']
        open(out, 'w').write('\n'.join(lines) + '\n')
        return
    vecs = json.load(open(src))
    rows, builders = [], []
    for i, v in enumerate(vecs):
        kind, ver = v['kind'], v['protocolVersion']
        hexbytes = v.get('bytes', '')
        expect = ''
        na = ''
        if kind.startswith('parse'):
            pkt = v.get('generated') or v['packet'] if kind == 'parse-generate-defaults' else v.get('packet')
            if pkt:
                expect = dump(pkt, ver)
        if kind.startswith('generate') or kind == 'writeToStream-error':
            try:
                st = build(v['packet'], ver)
                builders.append(f'\tcase {i}: {{\n\t\t' + '\n\t\t'.join(st) + '\n\t\treturn 0;\n\t}')
            except NotRepresentable as e:
                na = str(e)
        omitted = v.get('omitted_bytes', 0)
        cmds = ','.join(v.get('cmds', []))
        rows.append(f'\t{{{json.dumps(kind)}, {json.dumps(v["name"])}, {ver}, {json.dumps(hexbytes)}, '
                    f'{json.dumps(expect)}, {json.dumps(v.get("error", ""))}, {json.dumps(na)}, '
                    f'{omitted}u, {json.dumps(cmds)}}},')
    lines.append('static const struct vec vectors[] = {')
    lines += rows
    lines.append('};')
    lines.append(f'static const int n_vectors = {len(vecs)};')
    lines.append('/* Fill *p for encoder vector i; -1 when it has no C form (see vectors[i].na). */')
    lines.append('static int\nvec_build(int i, struct mqtt_packet *p, int *version)\n{\n'
                 '\tswitch (i) {')
    lines += builders
    lines.append('\tdefault:\n\t\treturn -1;\n\t}\n}')
    open(out, 'w').write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
