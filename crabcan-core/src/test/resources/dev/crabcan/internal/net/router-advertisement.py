# Run by Ipv6Test in a network and user namespace of its own (unshare -U -r -n): a veth pair whose
# ra0 end advertises a router to its ra1 end, as a host's router does on its LAN. Prints one JSON
# object: what the host would see (routes, settings) with accept_ra 1 and then 2 on ra1, and
# whether ra1's default route survives turning forwarding on in each case.
import json, socket, struct, subprocess, time


def put(path, value):
    with open('/proc/sys/net/ipv6/' + path, 'w') as f:
        f.write(value)


def settings(*paths):
    out = {}
    for p in paths:
        with open('/proc/sys/net/ipv6/' + p) as f:
            out[p] = f.read().strip()
    return out


def routes():
    with open('/proc/net/ipv6_route') as f:
        return f.read()


def default_on_ra1():
    return any(l.startswith('0' * 32 + ' 00 ') and l.split()[9] == 'ra1' for l in routes().splitlines())


def advertise():
    ra = struct.pack('!BBHBBHII', 134, 0, 0, 64, 0, 1800, 0, 0)
    # Prefix information: 2001:db8:1::/64, on-link and autonomous.
    ra += struct.pack('!BBBBIII', 3, 4, 64, 0xc0, 86400, 14400, 0) + socket.inet_pton(socket.AF_INET6, '2001:db8:1::')
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex('ra0'))
    try:
        s.sendto(ra, ('ff02::1', 0, 0, socket.if_nametoindex('ra0')))
    except OSError:
        pass  # the link is not up yet
    s.close()


def learn():
    """Advertises until ra1 has its default route from it (the links take a moment to come up)."""
    deadline = time.time() + 20
    while time.time() < deadline:
        advertise()
        time.sleep(0.1)
        if default_on_ra1():
            return True
    return False


def case():
    learned = learn()
    seen = {'learned': learned, 'routes': routes(),
            'settings': settings('conf/all/forwarding', 'conf/default/disable_ipv6', 'conf/ra0/accept_ra',
                                 'conf/ra1/accept_ra')}
    put('conf/all/forwarding', '1')
    time.sleep(0.2)
    seen['defaultRouteAfterForwarding'] = default_on_ra1()
    put('conf/all/forwarding', '0')
    return seen


put('conf/default/accept_dad', '0')
subprocess.run(['ip', 'link', 'add', 'ra0', 'type', 'veth', 'peer', 'name', 'ra1'], check=True)
put('conf/ra0/accept_ra', '0')
subprocess.run(['ip', 'link', 'set', 'ra0', 'up'], check=True)
subprocess.run(['ip', 'link', 'set', 'ra1', 'up'], check=True)
out = {'acceptRa1': case()}
put('conf/ra1/accept_ra', '2')
out['acceptRa2'] = case()
print(json.dumps(out))
