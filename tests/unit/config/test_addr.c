/*
 * test_addr.c - HOST:PORT parsing: the accepted forms and every refusal,
 * with the exact message.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "cairn/errors.h"
#include "config/config.h"

static void expect_bad(const char *text, const char *message)
{
	struct cairn_addr addr;
	char err[512] = "";

	cr_assert_eq(cairn_addr_parse(text, &addr, err, sizeof(err)), CAIRN_EINVAL, "%s", text);
	cr_assert_str_eq(err, message);
	cr_assert_eq(addr.kind, 0, "a refused address is left zeroed");
}

Test(addr, ipv4_with_port)
{
	struct cairn_addr a;
	char err[256];

	cr_assert_eq(cairn_addr_parse("127.0.0.1:7001", &a, err, sizeof(err)), 0);
	cr_assert_eq(a.kind, CAIRN_ADDR_IPV4);
	cr_assert_str_eq(a.host, "127.0.0.1");
	cr_assert_eq(a.port, 7001);
	cr_assert_str_eq(a.text, "127.0.0.1:7001");
	cr_assert_eq(memcmp(a.ip, "\x7f\x00\x00\x01", 4), 0);
}

Test(addr, ipv6_in_brackets)
{
	struct cairn_addr a;
	char err[256];

	cr_assert_eq(cairn_addr_parse("[::1]:65535", &a, err, sizeof(err)), 0);
	cr_assert_eq(a.kind, CAIRN_ADDR_IPV6);
	cr_assert_str_eq(a.host, "::1");
	cr_assert_eq(a.port, 65535);
	cr_assert_str_eq(a.text, "[::1]:65535");
	cr_assert_eq(a.ip[15], 1);
}

Test(addr, host_name_kept_unresolved)
{
	struct cairn_addr a;
	char err[256];

	cr_assert_eq(cairn_addr_parse("db-1.example.com:1", &a, err, sizeof(err)), 0);
	cr_assert_eq(a.kind, CAIRN_ADDR_NAME);
	cr_assert_str_eq(a.host, "db-1.example.com");
	cr_assert_eq(a.port, 1);
	cr_assert_eq(cairn_addr_parse("localhost:8001", &a, err, sizeof(err)), 0);
	cr_assert_eq(a.kind, CAIRN_ADDR_NAME);
}

Test(addr, longest_host_name_accepted)
{
	char text[300];
	struct cairn_addr a;
	char err[256];

	/* 4 labels of 63 + 3 dots = 255 > 253; 3 of 63 + 1 of 61 = 253 */
	memset(text, 'a', sizeof(text));
	text[63] = text[127] = text[191] = '.';
	memcpy(text + 253, ":80", 4);
	cr_assert_eq(cairn_addr_parse(text, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(strlen(a.host), 253);
}

Test(addr, equal_compares_addresses_not_spelling)
{
	struct cairn_addr a, b;
	char err[256];

	cr_assert_eq(cairn_addr_parse("[::1]:7001", &a, err, sizeof(err)), 0);
	cr_assert_eq(cairn_addr_parse("[0:0::1]:7001", &b, err, sizeof(err)), 0);
	cr_assert(cairn_addr_equal(&a, &b));
	cr_assert_eq(cairn_addr_parse("[::1]:7002", &b, err, sizeof(err)), 0);
	cr_assert_not(cairn_addr_equal(&a, &b));
	cr_assert_eq(cairn_addr_parse("Node1:7001", &a, err, sizeof(err)), 0);
	cr_assert_eq(cairn_addr_parse("node1:7001", &b, err, sizeof(err)), 0);
	cr_assert(cairn_addr_equal(&a, &b));
}

Test(addr, empty_refused)
{
	expect_bad("", "empty address (expected HOST:PORT)");
}

Test(addr, missing_port_refused)
{
	expect_bad("127.0.0.1", "missing port in '127.0.0.1' (expected HOST:PORT)");
	expect_bad("127.0.0.1:", "missing port in '127.0.0.1:' (expected HOST:PORT)");
	expect_bad("[::1]", "missing port in '[::1]' (expected HOST:PORT)");
}

Test(addr, missing_host_refused)
{
	expect_bad(":7001", "missing host in ':7001' (expected HOST:PORT)");
	expect_bad("[]:7001", "missing host in '[]:7001' (expected HOST:PORT)");
}

Test(addr, port_zero_refused)
{
	expect_bad("127.0.0.1:0", "port 0 out of range 1..65535");
}

Test(addr, port_above_65535_refused)
{
	expect_bad("127.0.0.1:65536", "port 65536 out of range 1..65535");
	expect_bad("127.0.0.1:99999999999999999999999",
		   "port 99999999999999999999999 out of range 1..65535");
}

Test(addr, port_not_digits_refused)
{
	expect_bad("127.0.0.1:http", "bad port 'http' in '127.0.0.1:http'");
	expect_bad("127.0.0.1:-1", "bad port '-1' in '127.0.0.1:-1'");
	expect_bad("127.0.0.1:80 ", "bad port '80 ' in '127.0.0.1:80 '");
}

Test(addr, junk_host_refused)
{
	expect_bad("my_host:80", "bad host name 'my_host' in 'my_host:80'");
	expect_bad("-host:80", "bad host name '-host' in '-host:80'");
	expect_bad("a..b:80", "bad host name 'a..b' in 'a..b:80'");
	expect_bad("a b:80", "bad host name 'a b' in 'a b:80'");
}

Test(addr, host_label_over_63_refused)
{
	char text[80];

	memset(text, 'x', 64);
	memcpy(text + 64, ":80", 4);
	cr_assert_eq(strlen(text), 67);
	struct cairn_addr a;
	char err[256];
	cr_assert_eq(cairn_addr_parse(text, &a, err, sizeof(err)), CAIRN_EINVAL);
	cr_assert(strncmp(err, "bad host name 'xxxx", 19) == 0, "%s", err);
}

Test(addr, host_over_253_refused)
{
	char text[300];

	memset(text, 'a', sizeof(text));
	text[63] = text[127] = text[191] = '.';
	memcpy(text + 254, ":80", 4);
	expect_bad(text, "host in 'aaaaaaaaaaaaaaaaaaaa...' longer than 253 bytes");
}

Test(addr, too_long_refused)
{
	char text[400];

	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	expect_bad(text, "address longer than 261 bytes");
}

Test(addr, bad_ipv4_refused)
{
	expect_bad("256.0.0.1:80", "bad IPv4 address '256.0.0.1' in '256.0.0.1:80'");
	expect_bad("1.2.3:80", "bad IPv4 address '1.2.3' in '1.2.3:80'");
	expect_bad("01.2.3.4:80", "bad IPv4 address '01.2.3.4' in '01.2.3.4:80'");
}

Test(addr, unclosed_bracket_refused)
{
	expect_bad("[::1:7001", "unclosed '[' in '[::1:7001'");
}

Test(addr, text_after_bracket_refused)
{
	expect_bad("[::1]x:7001", "unexpected text after ']' in '[::1]x:7001'");
}

Test(addr, bad_ipv6_refused)
{
	expect_bad("[::g]:7001", "bad IPv6 address '::g' in '[::g]:7001'");
	expect_bad("[1:2:3:4:5:6:7:8:9]:7001",
		   "bad IPv6 address '1:2:3:4:5:6:7:8:9' in '[1:2:3:4:5:6:7:8:9]:7001'");
	expect_bad("[localhost]:7001", "bad IPv6 address 'localhost' in '[localhost]:7001'");
}

Test(addr, ipv6_without_brackets_refused)
{
	expect_bad("::1:7001", "IPv6 address in '::1:7001' must be in brackets: [ADDR]:PORT");
}
