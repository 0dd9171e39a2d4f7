"""What runs the product on one machine and shows it: the embedded Postgres and broker, the
supervisor `runstack` starts the web server, worker and beat under, the demo store and its
storefront, and the benchmarks behind `make bench`."""
