/*
 * addr.c - "HOST:PORT" addresses of the cluster file, parsed and validated.
 *
 * A bracketed host is an IPv6 address; a host of only digits and dots must
 * be an IPv4 dotted quad (so "1.2.3.400" is a typo, not a host name); any
 * other host must be an RFC 1123 host name. Both address families are
 * checked with inet_pton(). Nothing is resolved here: a host name is kept
 * as text for net/ to resolve when it binds or connects.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cairn/errors.h"
#include "config/config.h"

#define PORT_MAX 65535u

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t err_size, const char *fmt,
						      ...)
{
	va_list ap;

	if (err_size > 0) {
		va_start(ap, fmt);
		vsnprintf(err, err_size, fmt, ap);
		va_end(ap);
	}
	return CAIRN_EINVAL;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A label: 1..63 letters, digits or hyphens, not starting or ending with a
 * hyphen (RFC 1123 2.1). */
static int label_ok(const char *label, size_t len)
{
	if (len == 0 || len > CAIRN_HOST_LABEL_BYTES_MAX)
		return 0;
	if (label[0] == '-' || label[len - 1] == '-')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!is_alnum(label[i]) && label[i] != '-')
			return 0;
	}
	return 1;
}

static int host_name_ok(const char *host)
{
	const char *label = host;

	assert(strlen(host) <= CAIRN_HOST_NAME_BYTES_MAX);
	for (;;) {
		const char *dot = strchr(label, '.');
		size_t len = dot ? (size_t)(dot - label) : strlen(label);

		if (!label_ok(label, len))
			return 0;
		if (!dot)
			return 1;
		label = dot + 1;
	}
}

static int digits_and_dots_only(const char *host)
{
	for (; *host != '\0'; host++) {
		if (!is_digit(*host) && *host != '.')
			return 0;
	}
	return 1;
}

/* Port text: decimal digits only, 1..65535. */
static int parse_port(const char *text, const char *port, uint16_t *out, char *err, size_t err_size)
{
	unsigned long value = 0;

	if (*port == '\0')
		return fail(err, err_size, "missing port in '%s' (expected HOST:PORT)", text);
	for (const char *c = port; *c != '\0'; c++) {
		if (!is_digit(*c))
			return fail(err, err_size, "bad port '%s' in '%s'", port, text);
		if (value <= PORT_MAX)
			value = value * 10 + (unsigned long)(*c - '0');
	}
	if (value < 1 || value > PORT_MAX)
		return fail(err, err_size, "port %s out of range 1..%u", port, PORT_MAX);
	*out = (uint16_t)value;
	return 0;
}

/* Fills out->kind and out->ip from out->host. */
static int classify_host(const char *text, int bracketed, struct cairn_addr *out, char *err,
			 size_t err_size)
{
	if (bracketed) {
		if (inet_pton(AF_INET6, out->host, out->ip) != 1)
			return fail(err, err_size, "bad IPv6 address '%s' in '%s'", out->host,
				    text);
		out->kind = CAIRN_ADDR_IPV6;
		return 0;
	}
	if (strchr(out->host, ':') != NULL)
		return fail(err, err_size, "IPv6 address in '%s' must be in brackets: [ADDR]:PORT",
			    text);
	if (digits_and_dots_only(out->host)) {
		if (inet_pton(AF_INET, out->host, out->ip) != 1)
			return fail(err, err_size, "bad IPv4 address '%s' in '%s'", out->host,
				    text);
		out->kind = CAIRN_ADDR_IPV4;
		return 0;
	}
	if (!host_name_ok(out->host))
		return fail(err, err_size, "bad host name '%s' in '%s'", out->host, text);
	out->kind = CAIRN_ADDR_NAME;
	return 0;
}

int cairn_addr_parse(const char *text, struct cairn_addr *out, char *err, size_t err_size)
{
	size_t len = strlen(text);
	const char *host, *port;
	size_t host_len;
	int bracketed = text[0] == '[';
	int rc;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return fail(err, err_size, "empty address (expected HOST:PORT)");
	if (len >= sizeof(out->text))
		return fail(err, err_size, "address longer than %zu bytes", sizeof(out->text) - 1);
	if (bracketed) {
		const char *close = strchr(text, ']');

		if (close == NULL)
			return fail(err, err_size, "unclosed '[' in '%s'", text);
		if (close[1] != ':' && close[1] != '\0')
			return fail(err, err_size, "unexpected text after ']' in '%s'", text);
		if (close[1] == '\0')
			return fail(err, err_size, "missing port in '%s' (expected HOST:PORT)",
				    text);
		host = text + 1;
		host_len = (size_t)(close - host);
		port = close + 2;
	} else {
		const char *colon = strrchr(text, ':');

		if (colon == NULL)
			return fail(err, err_size, "missing port in '%s' (expected HOST:PORT)",
				    text);
		host = text;
		host_len = (size_t)(colon - text);
		port = colon + 1;
	}
	if (host_len == 0)
		return fail(err, err_size, "missing host in '%s' (expected HOST:PORT)", text);
	if (host_len > CAIRN_HOST_NAME_BYTES_MAX)
		return fail(err, err_size, "host in '%.20s...' longer than %u bytes", text,
			    CAIRN_HOST_NAME_BYTES_MAX);
	memcpy(out->host, host, host_len);
	out->host[host_len] = '\0';
	rc = parse_port(text, port, &out->port, err, err_size);
	if (rc == 0)
		rc = classify_host(text, bracketed, out, err, err_size);
	if (rc != 0) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	memcpy(out->text, text, len + 1);
	assert(out->port != 0);
	assert(out->kind != 0);
	return 0;
}

int cairn_addr_equal(const struct cairn_addr *a, const struct cairn_addr *b)
{
	if (a->kind != b->kind || a->port != b->port)
		return 0;
	switch (a->kind) {
	case CAIRN_ADDR_IPV4:
		return memcmp(a->ip, b->ip, 4) == 0;
	case CAIRN_ADDR_IPV6:
		return memcmp(a->ip, b->ip, 16) == 0;
	case CAIRN_ADDR_NAME:
		return strcasecmp(a->host, b->host) == 0;
	}
	return 0;
}
