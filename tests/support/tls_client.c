/* A tiny HTTPS/1.1 client for apitop's tests of OpenSSL linked or loaded in unusual ways.
 *
 * Built by the tests (tests/static_tls_live.rs) in two ways:
 *   - statically linked against libssl.a/libcrypto.a: OpenSSL inside the executable, found
 *     through .symtab (and, stripped, nowhere);
 *   - with -DDYN: nothing linked; `--dlopen LIBCRYPTO LIBSSL` loads copies of the libraries and
 *     unlinks them, as Netty does with netty-tcnative.
 *
 * Usage: tls_client [--dlopen LIBCRYPTO LIBSSL] [--membio] [--wait] PORT PATH COUNT
 *   --membio  drive TLS through memory BIOs: SSL_read/SSL_write never touch the socket
 *   --wait    print "READY" and wait for a line on stdin before the requests
 * Prints each response's status line, then "DONE".
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>

/* Every OpenSSL function through a pointer, so one source serves both builds. */
#define FUNCS(X)                                                                            \
  X(TLS_client_method) X(SSL_CTX_new) X(SSL_new) X(SSL_set_fd) X(SSL_connect) X(SSL_write)  \
  X(SSL_read) X(SSL_shutdown) X(SSL_free) X(SSL_get_error) X(SSL_set_bio)                   \
  X(SSL_set_connect_state) X(SSL_do_handshake) X(BIO_new) X(BIO_s_mem) X(BIO_read)          \
  X(BIO_write)
#define DECLARE(f) static __typeof__(f) *p_##f;
FUNCS(DECLARE)

static void die(const char *what) {
  fprintf(stderr, "tls_client: %s\n", what);
  exit(1);
}

static void load(int argc, char **argv, int *i) {
#ifdef DYN
  if (*i + 2 >= argc || strcmp(argv[*i], "--dlopen") != 0) die("usage: --dlopen LIBCRYPTO LIBSSL");
  const char *crypto = argv[*i + 1], *ssl = argv[*i + 2];
  *i += 3;
  /* libcrypto first: libssl's DT_NEEDED libcrypto.so.3 then resolves to this copy (same
   * soname), not the system's. */
  void *hc = dlopen(crypto, RTLD_NOW | RTLD_GLOBAL);
  if (!hc) die(dlerror());
  void *hs = dlopen(ssl, RTLD_NOW | RTLD_GLOBAL);
  if (!hs) die(dlerror());
  if (unlink(ssl) != 0 || unlink(crypto) != 0) die("unlink");
#define RESOLVE(f) if (!(p_##f = (__typeof__(f) *)dlsym(hs, #f))) die(#f);
  FUNCS(RESOLVE)
#else
  (void)argc; (void)argv; (void)i;
#define ASSIGN(f) p_##f = f;
  FUNCS(ASSIGN)
#endif
}

static int write_all(int fd, const char *b, int n) {
  while (n > 0) {
    ssize_t w = write(fd, b, n);
    if (w <= 0) return -1;
    b += w;
    n -= w;
  }
  return 0;
}

/* Memory-BIO plumbing: what OpenSSL wrote to `wbio` goes to the socket; socket bytes go to
 * `rbio`. The process, not OpenSSL, makes every system call. */
static void flush_out(int fd, BIO *wbio) {
  char buf[16384];
  int n;
  while ((n = p_BIO_read(wbio, buf, sizeof buf)) > 0)
    if (write_all(fd, buf, n) < 0) die("send");
}

static int feed_in(int fd, BIO *rbio) {
  char buf[16384];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n <= 0) return -1;
  p_BIO_write(rbio, buf, (int)n);
  return 0;
}

static void request(SSL_CTX *ctx, int port, const char *path, int membio) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) die("connect");
  SSL *ssl = p_SSL_new(ctx);
  BIO *rbio = NULL, *wbio = NULL;
  if (membio) {
    rbio = p_BIO_new(p_BIO_s_mem());
    wbio = p_BIO_new(p_BIO_s_mem());
    p_SSL_set_bio(ssl, rbio, wbio);
    p_SSL_set_connect_state(ssl);
    for (;;) {
      int r = p_SSL_do_handshake(ssl);
      flush_out(fd, wbio);
      if (r == 1) break;
      if (p_SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ || feed_in(fd, rbio) < 0)
        die("handshake");
    }
  } else {
    p_SSL_set_fd(ssl, fd);
    if (p_SSL_connect(ssl) != 1) die("SSL_connect");
  }
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: tls_client\r\n"
                   "Connection: close\r\n\r\n",
                   path, port);
  if (p_SSL_write(ssl, req, n) != n) die("SSL_write");
  if (membio) flush_out(fd, wbio);
  char resp[65536];
  int got = 0;
  for (;;) {
    int r = p_SSL_read(ssl, resp + got, (int)sizeof resp - 1 - got);
    if (r > 0) {
      got += r;
      if (got == (int)sizeof resp - 1) break;
      continue;
    }
    if (membio && p_SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ) {
      flush_out(fd, wbio);
      if (feed_in(fd, rbio) == 0) continue;
    }
    break;
  }
  resp[got] = 0;
  char *eol = strstr(resp, "\r\n");
  if (eol) *eol = 0;
  printf("%s\n", got ? resp : "(no response)");
  fflush(stdout);
  p_SSL_shutdown(ssl);
  if (membio) flush_out(fd, wbio);
  p_SSL_free(ssl);
  close(fd);
}

int main(int argc, char **argv) {
  int i = 1, membio = 0, wait = 0;
  load(argc, argv, &i);
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (strcmp(argv[i], "--membio") == 0) membio = 1;
    else if (strcmp(argv[i], "--wait") == 0) wait = 1;
    else die("unknown option");
  }
  if (argc - i != 3) die("usage: tls_client [--dlopen LIBCRYPTO LIBSSL] [--membio] [--wait] PORT PATH COUNT");
  int port = atoi(argv[i]), count = atoi(argv[i + 2]);
  const char *path = argv[i + 1];
  SSL_CTX *ctx = p_SSL_CTX_new(p_TLS_client_method());
  if (!ctx) die("SSL_CTX_new");
  if (wait) {
    printf("READY\n");
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) return 1;
  }
  for (int k = 0; k < count; k++) request(ctx, port, path, membio);
  printf("DONE\n");
  fflush(stdout);
  return 0;
}
