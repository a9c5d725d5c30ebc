/*
 * addr.c - splitting "HOST:PORT" / "[IPv6]:PORT" and naming socket
 * addresses for logs.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "net/internal.h"

int cairn_net_split_addr(const char *addr, char *host, size_t host_len, uint16_t *port)
{
	const char *colon, *h = addr;
	size_t n;
	if (addr == NULL || strnlen(addr, CAIRN_NET_ADDR_BYTES_MAX + 1) > CAIRN_NET_ADDR_BYTES_MAX)
		return CAIRN_EINVAL;
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (close == NULL || close[1] != ':')
			return CAIRN_EINVAL;
		h = addr + 1;
		n = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL || memchr(addr, ':', (size_t)(colon - addr)) != NULL)
			return CAIRN_EINVAL; /* bare IPv6 needs brackets */
		n = (size_t)(colon - addr);
	}
	if (n == 0 || n >= host_len)
		return CAIRN_EINVAL;
	const char *ps = colon + 1;
	if (*ps == '\0' || strspn(ps, "0123456789") != strlen(ps) || strlen(ps) > 5)
		return CAIRN_EINVAL;
	unsigned long p = strtoul(ps, NULL, 10);
	if (p > 65535)
		return CAIRN_EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (uint16_t)p;
	return 0;
}

int cairn_net__numeric_addr(const char *host, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
		return 0;
	if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
		return 0;
	return CAIRN_EINVAL;
}

void cairn_net__name(const struct sockaddr *sa, char *name, size_t size)
{
	char ip[INET6_ADDRSTRLEN + 1] = "?";
	unsigned port = 0;
	uv_ip_name(sa, ip, sizeof ip);
	if (sa->sa_family == AF_INET6) {
		port = ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
		snprintf(name, size, "[%s]:%u", ip, port);
	} else {
		port = ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
		snprintf(name, size, "%s:%u", ip, port);
	}
}
