# Sourced by bench/wrk.sh and bench/preload.sh: the benchmark's nginx configuration.
# bench_nginx_conf FILE DIR LISTEN PROCESS_LINES: one worker, access log off, keep-alive
# without a request limit, DIR/www served (DIR/tmp for temporary files), errors and pid
# in DIR; LISTEN is the listen directive's argument; PROCESS_LINES (newline-separated
# directives) say how the processes run.
bench_nginx_conf() {
  cat >"$1" <<EOF
$4
daemon off;
pid $2/nginx.pid;
error_log $2/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $2/tmp;
  proxy_temp_path $2/tmp;
  fastcgi_temp_path $2/tmp;
  uwsgi_temp_path $2/tmp;
  scgi_temp_path $2/tmp;
  default_type text/html;
  server {
    listen $3;
    root $2/www;
    location / { index index.html; }
  }
}
EOF
}
