"""The identity layer: Keycloak (through its operator), its realm as code, and its PostgreSQL
on CloudNativePG."""
