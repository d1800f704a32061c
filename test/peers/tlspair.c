/*
 * Test peer: a TLS client and server joined by a socketpair in one process.
 * The client sends the whole of FILE with ONE SSL_write call (or one
 * SSL_write_ex with -x), the server reads until EOF and prints the byte
 * count. Used to prove that one huge write is captured whole, and that
 * frames packed in one write come out in order.
 *   tlspair [-x] FILE CERT KEY
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int use_ex;
static unsigned char *payload;
static size_t payload_len;

static void die(const char *what) {
	fprintf(stderr, "tlspair: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void *server(void *arg) {
	SSL *ssl = arg;
	if (SSL_accept(ssl) != 1) die("accept");
	static unsigned char buf[65536];
	size_t total = 0;
	for (;;) {
		int n = SSL_read(ssl, buf, sizeof buf);
		if (n <= 0) break;
		total += (size_t)n;
	}
	printf("%zu\n", total);
	return NULL;
}

int main(int argc, char **argv) {
	int a = 1;
	if (argc > 1 && strcmp(argv[1], "-x") == 0) use_ex = 1, a++;
	if (argc - a != 3) die("usage: tlspair [-x] FILE CERT KEY");
	FILE *f = fopen(argv[a], "rb");
	if (!f) die("open FILE");
	fseek(f, 0, SEEK_END);
	payload_len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	payload = malloc(payload_len ? payload_len : 1);
	if (fread(payload, 1, payload_len, f) != payload_len) die("read FILE");
	fclose(f);

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) die("socketpair");
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	if (SSL_CTX_use_certificate_file(sctx, argv[a + 1], SSL_FILETYPE_PEM) != 1) die("cert");
	if (SSL_CTX_use_PrivateKey_file(sctx, argv[a + 2], SSL_FILETYPE_PEM) != 1) die("key");
	SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
	SSL_set_fd(s, sv[0]);
	SSL_set_fd(c, sv[1]);
	pthread_t t;
	pthread_create(&t, NULL, server, s);
	if (SSL_connect(c) != 1) die("connect");
	if (use_ex) {
		size_t written = 0;
		if (SSL_write_ex(c, payload, payload_len, &written) != 1 || written != payload_len) die("SSL_write_ex");
	} else {
		if (SSL_write(c, payload, (int)payload_len) != (int)payload_len) die("SSL_write");
	}
	SSL_shutdown(c);
	shutdown(sv[1], SHUT_WR);
	pthread_join(t, NULL);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	return 0;
}
