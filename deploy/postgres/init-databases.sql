-- Run once by the postgres image on an empty data directory: each service owns its database.
CREATE DATABASE enrollment;
CREATE DATABASE billing;
