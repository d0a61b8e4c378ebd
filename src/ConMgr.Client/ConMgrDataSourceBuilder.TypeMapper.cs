// ConMgrDataSourceBuilder.TypeMapper.cs: the builder as an INpgsqlTypeMapper, so Npgsql's type plugins (UseNodaTime, ...) configure it directly.
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Npgsql;
using Npgsql.Internal;
using Npgsql.TypeMapping;

namespace ConMgr.Client;

/// <summary>Every mapping call goes to the wrapped <see cref="NpgsqlDataSourceBuilder"/>, and so to every instance's data source.</summary>
public sealed partial class ConMgrDataSourceBuilder : INpgsqlTypeMapper
{
    public INpgsqlNameTranslator DefaultNameTranslator
    {
        get => _npgsql.DefaultNameTranslator;
        set => Mutable().DefaultNameTranslator = value;
    }

    private INpgsqlTypeMapper Mapper => Mutable();

    /// <summary>Maps a CLR enum to a PostgreSQL enum, as <see cref="NpgsqlDataSourceBuilder.MapEnum{TEnum}"/>.</summary>
    public ConMgrDataSourceBuilder MapEnum<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicFields)] TEnum>(string? pgName = null, INpgsqlNameTranslator? nameTranslator = null)
        where TEnum : struct, Enum
    {
        Mutable().MapEnum<TEnum>(pgName, nameTranslator);
        return this;
    }

    INpgsqlTypeMapper INpgsqlTypeMapper.MapEnum<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicFields)] TEnum>(string? pgName, INpgsqlNameTranslator? nameTranslator) =>
        MapEnum<TEnum>(pgName, nameTranslator);

    bool INpgsqlTypeMapper.UnmapEnum<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicFields)] TEnum>(string? pgName, INpgsqlNameTranslator? nameTranslator) =>
        Mapper.UnmapEnum<TEnum>(pgName, nameTranslator);

    [RequiresDynamicCode("Calling MapEnum with a Type can require creating new generic types or methods. This may not work when AOT compiling.")]
    INpgsqlTypeMapper INpgsqlTypeMapper.MapEnum([DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicFields | DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] Type clrType, string? pgName, INpgsqlNameTranslator? nameTranslator)
    {
        Mapper.MapEnum(clrType, pgName, nameTranslator);
        return this;
    }

    bool INpgsqlTypeMapper.UnmapEnum([DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicFields | DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] Type clrType, string? pgName, INpgsqlNameTranslator? nameTranslator) =>
        Mapper.UnmapEnum(clrType, pgName, nameTranslator);

    [RequiresDynamicCode("Mapping composite types involves serializing arbitrary types which can require creating new generic types or methods. This is currently unsupported with NativeAOT.")]
    INpgsqlTypeMapper INpgsqlTypeMapper.MapComposite<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.PublicProperties | DynamicallyAccessedMemberTypes.PublicFields)] T>(string? pgName, INpgsqlNameTranslator? nameTranslator)
    {
        Mapper.MapComposite<T>(pgName, nameTranslator);
        return this;
    }

    [RequiresDynamicCode("Mapping composite types involves serializing arbitrary types which can require creating new generic types or methods. This is currently unsupported with NativeAOT.")]
    bool INpgsqlTypeMapper.UnmapComposite<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.PublicProperties | DynamicallyAccessedMemberTypes.PublicFields)] T>(string? pgName, INpgsqlNameTranslator? nameTranslator) =>
        Mapper.UnmapComposite<T>(pgName, nameTranslator);

    [RequiresDynamicCode("Mapping composite types involves serializing arbitrary types which can require creating new generic types or methods. This is currently unsupported with NativeAOT.")]
    INpgsqlTypeMapper INpgsqlTypeMapper.MapComposite([DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.PublicProperties | DynamicallyAccessedMemberTypes.PublicFields)] Type clrType, string? pgName, INpgsqlNameTranslator? nameTranslator)
    {
        Mapper.MapComposite(clrType, pgName, nameTranslator);
        return this;
    }

    [RequiresDynamicCode("Mapping composite types involves serializing arbitrary types which can require creating new generic types or methods. This is currently unsupported with NativeAOT.")]
    bool INpgsqlTypeMapper.UnmapComposite([DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.PublicProperties | DynamicallyAccessedMemberTypes.PublicFields)] Type clrType, string? pgName, INpgsqlNameTranslator? nameTranslator) =>
        Mapper.UnmapComposite(clrType, pgName, nameTranslator);

#pragma warning disable NPG9001, NPG9003 // Npgsql's plugin hooks are experimental there; forwarding them is how plugins reach the wrapped builder.
    [Experimental("NPG9001")]
    void INpgsqlTypeMapper.AddTypeInfoResolverFactory(PgTypeInfoResolverFactory factory) => Mapper.AddTypeInfoResolverFactory(factory);

    [Experimental("NPG9003")]
    void INpgsqlTypeMapper.AddDbTypeResolverFactory(DbTypeResolverFactory factory) => Mapper.AddDbTypeResolverFactory(factory);
#pragma warning restore NPG9001, NPG9003

    INpgsqlTypeMapper INpgsqlTypeMapper.ConfigureJsonOptions(JsonSerializerOptions serializerOptions) => ConfigureJsonOptions(serializerOptions);

    [RequiresUnreferencedCode("Json serializer may perform reflection on trimmed types.")]
    [RequiresDynamicCode("Serializing arbitrary types to json can require creating new generic types or methods, which requires creating code at runtime. This may not work when AOT compiling.")]
    INpgsqlTypeMapper INpgsqlTypeMapper.EnableDynamicJson(Type[]? jsonbClrTypes, Type[]? jsonClrTypes) => EnableDynamicJson(jsonbClrTypes, jsonClrTypes);

    [RequiresUnreferencedCode("The mapping of PostgreSQL records as .NET tuples requires reflection usage which is incompatible with trimming.")]
    [RequiresDynamicCode("The mapping of PostgreSQL records as .NET tuples requires dynamic code usage which is incompatible with NativeAOT.")]
    INpgsqlTypeMapper INpgsqlTypeMapper.EnableRecordsAsTuples() => EnableRecordsAsTuples();

    [RequiresUnreferencedCode("The use of unmapped enums, ranges or multiranges requires reflection usage which is incompatible with trimming.")]
    [RequiresDynamicCode("The use of unmapped enums, ranges or multiranges requires dynamic code usage which is incompatible with NativeAOT.")]
    INpgsqlTypeMapper INpgsqlTypeMapper.EnableUnmappedTypes() => EnableUnmappedTypes();

    void INpgsqlTypeMapper.Reset() => Mapper.Reset();
}
