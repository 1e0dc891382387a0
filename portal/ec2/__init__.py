"""The EC2 Query API: unmodified boto3 and awscli reach Skyport with `endpoint_url=<portal>/ec2/`.

One POST endpoint (`views.endpoint`): SigV4 (`auth`) -> per-key rate limit (`throttle`) -> parameters
(`params`) -> one function per Action (`actions/`), each one call into the services the web and REST use
-> EC2's XML (`xml`), refusals mapped once (`errors`).
"""
